// Under pidvisor-keeper, the Node daemon is SIGKILLed with services running: the keeper holds
// their pidfds (deposited at spawn), so it starts a new daemon itself, which takes every service
// over through those pidfds (same id, pid, instance), and records a service that ended while no
// daemon ran with the exact status the keeper reaped, not `unobserved`.
//
// The keeper is stopped (SIGSTOP) across the crash so that the service's end falls, for sure,
// in the time no daemon runs: stopped, the keeper neither reaps nor starts a daemon; continued,
// it reaps both, keeps the service's exit, and starts the next daemon.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { capabilities } from '../../native/index.js';
import { requestJson, startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { isRunning, isZombie, pidfdsHeldBy, pollUntil } from '../helpers/proc.js';
import { killLeftInstances } from '../helpers/instances.js';
import { takeOverSkipReason } from '../helpers/take-over.js';

const reason = takeOverSkipReason('the keeper reports exits without an instance token');

let dir = '';
let daemon: DaemonProcess | null = null;
const seen: Array<{ pid: number; instance: string }> = [];

afterEach(async () => {
  if (daemon !== null) {
    // A test that failed with the keeper stopped: continue it (it may have exited already, and
    // the instances below must still be killed).
    if (daemon.process.exitCode === null && daemon.process.signalCode === null) daemon.process.kill('SIGCONT');
    await daemon.stop('SIGTERM');
    daemon = null;
  }
  killLeftInstances(seen.splice(0));
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

interface Info {
  id: string;
  name: string;
  state: string;
  pid: number | null;
  instance: string | null;
  restarts: number;
  exit: { reason: string; code: number | null; signal: string | null; pid: number | null; instance: string | null } | null;
}

describe.skipIf(reason !== null)(`take-over under the keeper${reason === null ? '' : ` (skipped: ${reason})`}`, () => {
  it('restarts a SIGKILLed Node daemon, which keeps every service (same pid, instance) and records an exit while none ran exactly', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-keeper-takeover-'));
    const socket = path.join(dir, 'api.sock');
    const cgroupName = `pidvisor-test-keeper-takeover-${process.pid}`;
    // As on a kernel before 6.15: the exits of re-adopted services must come from the keeper's
    // EXIT, since no status is read through their pidfds (see take-over.ts).
    daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state'), '--cgroup-name', cgroupName], { env: { PIDVISOR_IGNORE_PIDFD_EXIT_INFO: '1', PIDVISOR_LOG_LEVEL: 'debug' } });
    const keeper = daemon.process.pid!;
    await daemon.waitForLog((r) => r.msg === 'api listening', 30_000);
    const pidfdsAtStart = pidfdsHeldBy(keeper);
    const launch = async (spec: Record<string, unknown>): Promise<Info> => {
      const { status, body } = await requestJson(socket, 'POST', '/v1/processes', { startGraceMs: 0, stdout: 'null', stderr: 'null', ...spec });
      expect(status, JSON.stringify(body)).toBe(201);
      const info = body as unknown as Info;
      seen.push({ pid: info.pid!, instance: info.instance! });
      return info;
    };
    const list = async (): Promise<Map<string, Info>> =>
      new Map(((await requestJson(socket, 'GET', '/v1/processes')).body.processes as Info[]).map((p) => [p.name, p]));

    const quiet = await launch({ name: 'quiet', command: ['sleep', '1000'] });
    const grouped = await launch({ name: 'grouped', command: ['sh', '-c', 'sleep 1000 & wait'], killMode: 'group' });
    const endNow = path.join(dir, 'end-now');
    const ender = await launch({ name: 'ender', command: ['sh', '-c', `while [ ! -e ${endNow} ]; do sleep 0.02; done; exit 7`], restart: { policy: 'no' } });
    const endLater = path.join(dir, 'end-later');
    const later = await launch({ name: 'later', command: ['sh', '-c', `while [ ! -e ${endLater} ]; do sleep 0.02; done; exit 5`], restart: { policy: 'no' } });
    await pollUntil(() => daemon!.logs.filter((r) => r.msg === 'started').length === 4, 10_000);

    const firstNode = daemon.supervisorPid();
    expect(firstNode).toBeGreaterThan(0);
    process.kill(keeper, 'SIGSTOP');
    process.kill(firstNode, 'SIGKILL');
    // The services are the keeper's children now; ender ends while no daemon runs, and stays a
    // zombie until the keeper, continued, reaps it.
    fs.writeFileSync(endNow, '');
    await pollUntil(() => isZombie(ender.pid!), 10_000);
    process.kill(keeper, 'SIGCONT');

    // The keeper (same process) started a new Node daemon, which took everything over.
    await pollUntil(() => daemon!.logs.some((r) => r.msg === 'api listening' && r.daemonPid !== firstNode), 30_000);
    expect(daemon.process.exitCode).toBeNull();
    expect(daemon.supervisorPid()).not.toBe(firstNode);
    const after = await list();
    for (const was of [quiet, grouped]) {
      expect(after.get(was.name), was.name).toMatchObject({ id: was.id, pid: was.pid, instance: was.instance, state: 'running', restarts: 0 });
      expect(isRunning(was.pid!)).toBe(true);
    }
    // Held again through the pidfds the keeper kept, not the file handles.
    const adopted = daemon.logs.filter((r) => r.msg === 're-adopted').map((r) => [r.instance, r.through]);
    expect(adopted).toEqual(expect.arrayContaining([[quiet.instance, 'keeper'], [grouped.instance, 'keeper']]));
    // The summary line (the per-instance ones are at debug level) counts them the same way.
    const summary = daemon.logs.find((r) => r.msg === 'took over from the previous daemon' && r.daemonPid !== firstNode);
    expect(summary?.adoptedThrough).toEqual({ keeper: adopted.length, handle: 0 });
    // Its exact status, as the keeper reaped it.
    expect(after.get('ender')).toMatchObject({ state: 'exited', pid: null, exit: { reason: 'exited', code: 7, signal: null, pid: ender.pid, instance: ender.instance } });
    // No second copy: the new daemon started nothing.
    expect(daemon.logs.filter((r) => r.msg === 'started' && r.daemonPid !== firstNode)).toEqual([]);

    // A re-adopted service that ends by itself: its exact code, from the keeper's EXIT.
    fs.writeFileSync(endLater, '');
    let laterNow: Info | undefined;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
      laterNow = (await list()).get('later');
      if (laterNow?.state === 'exited') break;
    }
    expect(laterNow).toMatchObject({ state: 'exited', exit: { reason: 'exited', code: 5, signal: null, pid: later.pid, instance: later.instance } });

    // A re-adopted service, now the keeper's child, is supervised: stopped through its pidfd,
    // its exit exact.
    const stopped = await requestJson(socket, 'POST', '/v1/processes/quiet/stop', {});
    expect(stopped.body).toMatchObject({ state: 'stopped', exit: { reason: 'stopped', signal: 'SIGTERM', pid: quiet.pid } });
    await pollUntil(() => !isRunning(quiet.pid!), 10_000);
    // Every ended instance was withdrawn: ender (ended while no daemon ran) and quiet; grouped
    // is still deposited, by the new daemon's take-over.
    expect(await requestJson(socket, 'DELETE', '/v1/processes/grouped')).toMatchObject({ status: 200 });
    await pollUntil(() => pidfdsHeldBy(keeper) === pidfdsAtStart, 10_000);

    // A clean stop ends the keeper too, and nothing is left running.
    expect(await daemon.stop('SIGTERM')).toBe(0);
    daemon = null;
    await pollUntil(() => !isRunning(grouped.pid!), 10_000);
    // The subtree the first daemon made goes with the last one (nothing is left in it).
    const mount = capabilities().cgroup2Mount;
    if (mount !== null) expect(fs.existsSync(path.join(mount, cgroupName)), 'cgroup root left after the clean stop').toBe(false);
  }, 120_000);
});
