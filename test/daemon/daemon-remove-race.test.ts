// Issue 16's report, replayed against the real `pidvisor daemon` over its unix socket:
// restart, DELETE 50 ms later, restart again 50 ms later, on a service whose stop takes
// 0.3 s. It used to answer 200 three times and leave a live `sh` that no service listed,
// after which SIGTERM never ended the daemon. Now the service is gone with its tree, and
// SIGTERM ends the daemon.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { capabilities, pidfdUnsupportedReason } from '../../native/index.js';
import { startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { catchesSignal, liveChildren, pollUntil } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
const cgroupName = `pidvisor-test-remove-race-${process.pid}`;
const cgroupDir = path.join(capabilities().cgroup2Mount ?? '/nonexistent', cgroupName);
const SERVICE = { name: 'x', command: ['sh', '-c', 'trap "sleep 0.3; exit 0" TERM; while :; do sleep 0.05; done'] };

let dir = '';
let socket = '';
let daemon: DaemonProcess | undefined;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function request(method: string, url: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ socketPath: socket, method, path: url, agent: false, headers: payload === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** The gap between the report's curl commands (`& sleep 0.05`): the requests' order, not a wait for a condition. */
const gap = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));

async function startDaemon(): Promise<DaemonProcess> {
  const started = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state'), '--cgroup-name', cgroupName]);
  // Ready once the socket answers (the file exists from bind(), a moment before listen()).
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ready = await request('GET', '/healthz').then((answer) => answer.status === 200, () => false);
    if (ready) return started;
    if (Date.now() > deadline) throw new Error('the daemon did not answer on its socket within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Polls the API (bounded) until the service is in `state`. */
async function stateOf(name: string, state: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = (await request('GET', `/v1/processes/${name}`)).body.state;
    if (seen === state) return;
    if (Date.now() > deadline) throw new Error(`${name} did not reach ${state} within ${timeoutMs} ms (last seen: ${String(seen)})`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Waits (bounded) for the daemon to exit; 'running' if it has not. */
async function exitOf(d: DaemonProcess, signal: NodeJS.Signals, timeoutMs: number): Promise<number | string> {
  return Promise.race([d.stop(signal), new Promise<string>((resolve) => setTimeout(() => resolve('running'), timeoutMs).unref())]);
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-race-'));
  socket = path.join(dir, 'api.sock');
});

afterEach(async () => {
  // A daemon that did not exit: note its children (they outlive it), kill it, then them.
  if (daemon !== undefined && daemon.process.exitCode === null && daemon.process.signalCode === null) {
    const supervisor = daemon.supervisorPid();
    const orphans = supervisor === 0 ? [] : [supervisor, ...liveChildren(supervisor)];
    await daemon.stop('SIGKILL');
    for (const pid of orphans) process.kill(pid, 'SIGKILL');
  }
  daemon = undefined;
  if (fs.existsSync(cgroupDir)) {
    for (const entry of fs.readdirSync(cgroupDir, { withFileTypes: true }).filter((e) => e.isDirectory())) {
      const child = path.join(cgroupDir, entry.name);
      fs.writeFileSync(path.join(child, 'cgroup.kill'), '1');
      await pollUntil(() => !/^populated 1$/m.test(fs.readFileSync(path.join(child, 'cgroup.events'), 'utf8')), 5000);
      fs.rmdirSync(child);
    }
    fs.rmdirSync(cgroupDir);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(unsupported !== null)(`pidvisor daemon: restart racing DELETE${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('leaves no child behind in either kill mode, and SIGTERM then ends the daemon', async () => {
    daemon = await startDaemon();
    const daemonPid = daemon.supervisorPid();
    for (const killMode of ['cgroup', 'group', 'cgroup', 'group']) {
      const launched = await request('POST', '/v1/processes', { ...SERVICE, killMode });
      expect(launched.status, JSON.stringify(launched.body)).toBe(201);
      // The shell must have set its trap before a TERM comes, as in the report (where a
      // person typed the next command).
      const pid = launched.body.pid as number;
      await pollUntil(() => catchesSignal(pid, 15), 5000);

      const first = request('POST', '/v1/processes/x/restart');
      await gap();
      const removal = request('DELETE', '/v1/processes/x');
      await gap();
      const second = request('POST', '/v1/processes/x/restart');
      const answers = await Promise.all([first, removal, second]);
      const statuses = answers.map((answer) => answer.status);

      expect(answers[1]!.status, JSON.stringify(answers)).toBe(200);
      expect((await request('GET', '/v1/processes/x')).status).toBe(404);
      // Whatever the order the daemon saw them in, a restart that lost to the removal is refused.
      for (const status of statuses) expect([200, 404, 409]).toContain(status);
      expect(liveChildren(daemonPid), `${killMode}: answers ${statuses.join(' ')}`).toEqual([]);
      expect(fs.existsSync(cgroupDir) ? fs.readdirSync(cgroupDir).filter((entry) => entry.startsWith('x.')) : []).toEqual([]);
    }
    expect(await exitOf(daemon, 'SIGTERM', 20_000)).toBe(0);
    daemon = undefined;
    expect(fs.existsSync(cgroupDir)).toBe(false);
  }, 60_000);

  it('answers 409 REMOVING to a restart asked during the removal, and 404 to the restart it overtook', async () => {
    daemon = await startDaemon();
    const launched = await request('POST', '/v1/processes', { ...SERVICE, command: ['sh', '-c', 'trap "sleep 1; exit 0" TERM; while :; do sleep 0.05; done'] });
    const pid = launched.body.pid as number;
    await pollUntil(() => catchesSignal(pid, 15), 5000);

    const first = request('POST', '/v1/processes/x/restart');
    await stateOf('x', 'stopping');
    const removal = request('DELETE', '/v1/processes/x');
    await stateOf('x', 'removing');
    const second = await request('POST', '/v1/processes/x/restart');
    expect(second).toMatchObject({ status: 409, body: { code: 'PIDVISOR_ERR_REMOVING' } });
    expect(await removal).toMatchObject({ status: 200, body: { state: 'removed', pid: null } });
    expect(await first).toMatchObject({ status: 404, body: { code: 'PIDVISOR_ERR_NOT_FOUND' } });
    expect(liveChildren(daemon.supervisorPid())).toEqual([]);
    expect(await exitOf(daemon, 'SIGTERM', 20_000)).toBe(0);
    daemon = undefined;
  }, 60_000);
});
