// Which daemon owns what: one daemon per state dir (an flock taken before anything is
// touched), and one cgroup subtree per daemon, named after its state dir. Real daemons,
// started as processes: a refused second daemon must leave the first one working, two
// daemons must not share a subtree, and a daemon restarted after a crash finds its own.
import { spawn as spawnWithLibuv } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { PIDVISOR_BIN, requestJson, startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { isRunning, pollUntil } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
let dir = '';
let daemons: DaemonProcess[] = [];
/** Instance cgroups a test left running on purpose (a SIGKILLed daemon's service). */
let leftovers: string[] = [];

const socketOf = (name: string): string => path.join(dir, 'run', `${name}.sock`);

function startDaemon(name: string, stateDir: string, env?: Record<string, string>): DaemonProcess {
  const daemon = startDaemonProcess(['--socket', socketOf(name), '--state-dir', stateDir], env === undefined ? {} : { env });
  daemons.push(daemon);
  return daemon;
}

async function ready(daemon: DaemonProcess, socket: string): Promise<void> {
  await daemon.waitForLog((record) => record.msg === 'api listening', 20_000);
  expect((await requestJson(socket, 'GET', '/healthz')).status).toBe(200);
}

async function cgroupRoot(socket: string): Promise<string> {
  const root = (await requestJson(socket, 'GET', '/v1/system')).body.cgroupRoot;
  expect(typeof root).toBe('string');
  return root as string;
}

/** Launches `sleep` in its own cgroup and returns its pid and the cgroup it is in. */
async function launchSleep(socket: string, name: string): Promise<{ pid: number; cgroup: string }> {
  const launched = await requestJson(socket, 'POST', '/v1/processes', { name, command: ['sleep', '1000'], killMode: 'cgroup', stdout: 'null', stderr: 'null' });
  expect(launched.status).toBe(201);
  const pid = launched.body.pid as number;
  const line = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'))!;
  return { pid, cgroup: line.slice('0::'.length) };
}

/** `pidvisor <args>` as a process that is expected to end by itself; its code and stderr. */
function runToEnd(args: string[]): Promise<{ code: number | string; stderr: string }> {
  const child = spawnWithLibuv(process.execPath, [PIDVISOR_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ended = new Promise<{ code: number | string; stderr: string }>((resolve) => child.once('exit', (code, signal) => resolve({ code: code ?? signal ?? -1, stderr })));
  // A start that is not refused would run until stopped: end it, and the test sees why.
  const timer = setTimeout(() => child.kill('SIGTERM'), 20_000);
  return ended.finally(() => clearTimeout(timer));
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-identity-'));
});

afterEach(async () => {
  for (const daemon of daemons) {
    const stopped = daemon.stop('SIGTERM');
    const timeout = new Promise((resolve) => setTimeout(resolve, 15_000).unref());
    if ((await Promise.race([stopped, timeout.then(() => 'timeout')])) === 'timeout') await daemon.stop('SIGKILL');
  }
  daemons = [];
  for (const cgroup of leftovers) {
    try {
      fs.writeFileSync(path.join(cgroup, 'cgroup.kill'), '1');
      await pollUntil(() => fs.readFileSync(path.join(cgroup, 'cgroup.events'), 'utf8').includes('populated 0'), 10_000);
      fs.rmdirSync(cgroup);
    } catch {
      // removed by the test already
    }
  }
  leftovers = [];
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(unsupported !== null)(`one daemon per state dir, one cgroup subtree per daemon${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('refuses a second daemon (and init) on a state dir in use, naming the holder, and the first still launches', async () => {
    const state = path.join(dir, 'state');
    const first = startDaemon('first', state);
    await ready(first, socketOf('first'));
    const root = await cgroupRoot(socketOf('first'));
    fs.writeFileSync(path.join(dir, 'services.yaml'), 'services:\n  other:\n    command: [sleep, "1000"]\n');

    // Its own socket, another socket, and init with a config: all refused before they touch anything.
    const refusals = [
      ['daemon', '--socket', socketOf('first'), '--state-dir', state],
      ['daemon', '--socket', socketOf('second'), '--state-dir', state],
      ['init', '--config', path.join(dir, 'services.yaml'), '--state-dir', state],
      ['init', '--socket', socketOf('third'), '--state-dir', state],
    ];
    for (const args of refusals) {
      const refused = await runToEnd(args);
      expect(refused.code, args.join(' ')).toBe(1);
      expect(refused.stderr).toContain(`state directory ${state} is in use by another daemon (pid ${first.supervisorPid()})`);
    }
    expect(fs.existsSync(socketOf('second'))).toBe(false);
    expect(fs.readFileSync(path.join(state, 'daemon.lock'), 'utf8')).toBe(`${first.supervisorPid()}\n`);

    expect(fs.existsSync(root)).toBe(true);
    const service = await launchSleep(socketOf('first'), 'after');
    expect(path.join(path.dirname(root), service.cgroup)).toMatch(new RegExp(`^${root}/after\\.`));
    expect((await requestJson(socketOf('first'), 'DELETE', '/v1/processes/after')).status).toBe(200);
    expect(isRunning(service.pid)).toBe(false);
    // What an older pidvisor's refused daemon did: remove the subtree under a live daemon.
    // The next launch makes it again instead of failing with ENOENT from then on.
    fs.rmdirSync(root);
    const again = await launchSleep(socketOf('first'), 'again');
    expect(path.join(path.dirname(root), again.cgroup)).toMatch(new RegExp(`^${root}/again\\.`));

    expect(await first.stop('SIGTERM')).toBe(0);
    expect(fs.existsSync(root)).toBe(false); // its own subtree, named after its state dir
  }, 90_000);

  it('runs two daemons on two state dirs side by side, each in its own cgroup subtree', async () => {
    const a = startDaemon('a', path.join(dir, 'state-a'));
    const b = startDaemon('b', path.join(dir, 'state-b'));
    await Promise.all([ready(a, socketOf('a')), ready(b, socketOf('b'))]);
    const rootA = await cgroupRoot(socketOf('a'));
    const rootB = await cgroupRoot(socketOf('b'));
    expect(rootA).not.toBe(rootB);
    const mount = path.dirname(rootA);
    const inA = await launchSleep(socketOf('a'), 'web');
    const inB = await launchSleep(socketOf('b'), 'web');
    expect(path.join(mount, inA.cgroup).startsWith(`${rootA}/`)).toBe(true);
    expect(path.join(mount, inB.cgroup).startsWith(`${rootB}/`)).toBe(true);

    // One stopping removes its own subtree only: the other keeps running and launching.
    expect(await b.stop('SIGTERM')).toBe(0);
    expect(isRunning(inB.pid)).toBe(false);
    expect(fs.existsSync(rootB)).toBe(false);
    expect(isRunning(inA.pid)).toBe(true);
    expect(fs.existsSync(rootA)).toBe(true);
    expect((await requestJson(socketOf('a'), 'DELETE', '/v1/processes/web')).status).toBe(200);
    const again = await launchSleep(socketOf('a'), 'again');
    expect(path.join(mount, again.cgroup).startsWith(`${rootA}/`)).toBe(true);
    expect(await a.stop('SIGTERM')).toBe(0);
    expect(isRunning(again.pid)).toBe(false);
  }, 90_000);

  it('refuses a second daemon given the cgroup subtree of another (--cgroup-name), naming its pid', async () => {
    const name = `pidvisor-test-identity-${process.pid}`;
    const first = startDaemonProcess(['--socket', socketOf('first'), '--state-dir', path.join(dir, 'state-1'), '--cgroup-name', name]);
    daemons.push(first);
    await ready(first, socketOf('first'));
    const root = await cgroupRoot(socketOf('first'));
    const refused = await runToEnd(['daemon', '--socket', socketOf('second'), '--state-dir', path.join(dir, 'state-2'), '--cgroup-name', name]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`cgroup ${root} is in use by another daemon (pid ${first.supervisorPid()})`);
    expect(fs.existsSync(root)).toBe(true);
    const service = await launchSleep(socketOf('first'), 'web');
    expect(path.join(path.dirname(root), service.cgroup).startsWith(`${root}/`)).toBe(true);
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(fs.existsSync(root)).toBe(false); // it made it
  }, 90_000);

  it('finds its cgroup subtree again when restarted on the same state dir after a SIGKILL, and leaves what it did not make', async () => {
    const state = path.join(dir, 'state');
    // Without the keeper, which would start the next daemon itself (it holds the survivor).
    const crashed = startDaemon('d', state, { PIDVISOR_KEEPER: 'off' });
    await ready(crashed, socketOf('d'));
    const root = await cgroupRoot(socketOf('d'));
    const orphan = await launchSleep(socketOf('d'), 'survivor');
    const orphanCgroup = path.join(path.dirname(root), orphan.cgroup);
    leftovers.push(orphanCgroup);
    // The kernel drops the flock with the process: the next daemon is not refused. The Node
    // daemon is what crashes.
    process.kill(crashed.supervisorPid(), 'SIGKILL');
    expect([137, 'SIGKILL']).toContain(await crashed.exited);
    expect(isRunning(orphan.pid)).toBe(true);

    const restarted = startDaemon('d', state);
    await ready(restarted, socketOf('d'));
    expect(await cgroupRoot(socketOf('d'))).toBe(root);
    // The services of the crashed daemon are not its to kill or remove (the keeper will adopt them).
    expect(fs.existsSync(orphanCgroup)).toBe(true);
    expect(isRunning(orphan.pid)).toBe(true);
    const fresh = await launchSleep(socketOf('d'), 'fresh');
    expect(path.join(path.dirname(root), fresh.cgroup).startsWith(`${root}/`)).toBe(true);

    fs.writeFileSync(path.join(orphanCgroup, 'cgroup.kill'), '1');
    await pollUntil(() => !isRunning(orphan.pid), 10_000);
    await pollUntil(() => fs.readFileSync(path.join(orphanCgroup, 'cgroup.events'), 'utf8').includes('populated 0'), 10_000);
    fs.rmdirSync(orphanCgroup);
    expect(await restarted.stop('SIGTERM')).toBe(0);
    expect(fs.existsSync(root)).toBe(false);
  }, 90_000);
});
