// Readiness survives a daemon crash: an instance the dead daemon left `starting` is probed
// again by the next one (tcp), or still heard at READY=1 (sd_notify: the socket is bound again
// at the same path, which the instance's NOTIFY_SOCKET names); it stays `starting` until then.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { capabilities, OrphanReaper, pidfdUnsupportedReason, setChildSubreaper, type ReapedOrphan } from '../../native/index.js';
import { request, startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { killLeftInstances } from '../helpers/instances.js';

function skipReason(): string | null {
  const pidfd = pidfdUnsupportedReason();
  if (pidfd !== null) return pidfd;
  if (!capabilities().features.pidfs.ok) return 'no pidfs (Linux 6.9): instances cannot be named on disk';
  return null;
}
const reason = skipReason();

let dir = '';
const daemons: DaemonProcess[] = [];
const reaped: ReapedOrphan[] = [];
const reaper = new OrphanReaper({ onReap: (orphan) => reaped.push(orphan) });
const cgroupName = `pidvisor-test-takeover-probes-${process.pid}`;
// Each test starts two or three daemons (node, fastify): seconds each when the machine is busy.
const DAEMONS_TEST_TIMEOUT_MS = 120_000;

beforeAll(() => {
  if (reason !== null) return;
  setChildSubreaper(true);
  reaper.start();
});
afterAll(() => {
  reaper.stop();
});
// Every instance the tests saw, to kill in case a failure left one without a daemon.
const seen: Array<{ pid: number; instance: string }> = [];

afterEach(async () => {
  // A test that failed midway: a clean stop of the live daemon stops its services.
  for (const daemon of daemons.splice(0)) await daemon.stop('SIGTERM');
  killLeftInstances(seen.splice(0), { processGroup: true });
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

interface Info {
  id: string;
  name: string | null;
  state: string;
  pid: number | null;
  instance: string | null;
  restarts: number;
  origin: string;
  exit: { reason: string; code: number | null; signal: string | null; pid: number | null; instance: string | null } | null;
}

/** Polls an async condition: true ends the wait. */
async function pollAsync(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function start(args: string[]): Promise<{ daemon: DaemonProcess; socket: string }> {
  const socket = path.join(dir, 'api.sock');
  const daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state'), '--cgroup-name', cgroupName, ...args], { env: { PIDVISOR_KEEPER: 'off' } });
  daemons.push(daemon);
  await pollAsync(async () => {
    if (daemon.process.exitCode !== null) throw new Error(`the daemon exited: ${JSON.stringify(daemon.logs)}`);
    return (await request(socket, 'GET', '/healthz')).status === 200;
  }, 60_000);
  return { daemon, socket };
}

// The daemon runs without the keeper here (PIDVISOR_KEEPER=off): these tests are about the
// journal and the pidfs file handles, the path a daemon takes when no keeper held anything for
// it (started by systemd or by hand after a crash). Under the keeper, see keeper-take-over.test.ts.
async function sigkill(daemon: DaemonProcess): Promise<void> {
  const pid = daemon.supervisorPid();
  if (pid <= 0) throw new Error('the Node daemon is not running');
  process.kill(pid, 'SIGKILL');
  expect([137, 'SIGKILL']).toContain(await daemon.exited);
  daemons.splice(daemons.indexOf(daemon), 1);
}

async function list(socket: string): Promise<Map<string, Info>> {
  const { processes } = (await request<{ processes: Info[] }>(socket, 'GET', '/v1/processes')).body;
  for (const p of processes) if (p.pid !== null && p.instance !== null) seen.push({ pid: p.pid, instance: p.instance });
  return new Map(processes.map((p) => [p.name ?? p.id, p]));
}


async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const launch = async (socket: string, spec: Record<string, unknown>): Promise<Info> => {
  const { status, body } = await request<Info>(socket, 'POST', '/v1/processes', { startGraceMs: 0, stdout: 'null', stderr: 'null', ...spec });
  expect(status, JSON.stringify(body)).toBe(201);
  if (body.pid !== null && body.instance !== null) seen.push({ pid: body.pid, instance: body.instance });
  return body;
};

describe.skipIf(reason !== null)(`readiness across a take-over${reason === null ? '' : ` (skipped: ${reason})`}`, () => {
  it('keeps probing a starting instance, and hears READY=1 on the re-bound notify socket', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-takeover-probes-'));
    const port = await freePort();
    const listenNow = path.join(dir, 'listen-now');
    const readyNow = path.join(dir, 'ready-now');
    const first = await start([]);
    const listener = `const fs=require('fs');const t=setInterval(()=>{if(fs.existsSync(${JSON.stringify(listenNow)})){clearInterval(t);require('net').createServer(s=>s.end()).listen(${port},'127.0.0.1')}},20)`;
    const db = await launch(first.socket, { name: 'db', command: [process.execPath, '-e', listener], readiness: { kind: 'tcp', port, periodMs: 50 } });
    const svc = await launch(first.socket, {
      name: 'svc',
      command: ['sh', '-c', `while [ ! -e ${readyNow} ]; do sleep 0.02; done; systemd-notify --ready --status=up; exec sleep 1000`],
      notify: true,
    });
    expect([db.state, svc.state]).toEqual(['starting', 'starting']);
    await sigkill(first.daemon);

    const second = await start([]);
    const taken = await list(second.socket);
    expect(taken.get('db')).toMatchObject({ state: 'starting', pid: db.pid, instance: db.instance });
    expect(taken.get('svc')).toMatchObject({ state: 'starting', pid: svc.pid, instance: svc.instance });
    fs.writeFileSync(listenNow, '');
    fs.writeFileSync(readyNow, '');
    await pollAsync(async () => (await list(second.socket)).get('db')?.state === 'running', 20_000);
    await pollAsync(async () => (await list(second.socket)).get('svc')?.state === 'running', 20_000);
    const now = await list(second.socket);
    expect(now.get('db')).toMatchObject({ pid: db.pid, restarts: 0 });
    expect(now.get('svc')).toMatchObject({ pid: svc.pid, restarts: 0 });
  }, DAEMONS_TEST_TIMEOUT_MS);
});
