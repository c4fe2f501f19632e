// sd_notify with clients nobody here wrote: systemd-notify (Debian's systemd) and libsystemd
// through Debian's python3-systemd. Readiness only at READY=1, STATUS= shown, a missed
// watchdog restarts the service, datagrams from outside the instance are dropped.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { isRunning, pollUntil, procStat } from '../helpers/proc.js';
import { createTestSupervisor, waitForState, type TestSupervisor } from '../helpers/supervisor.js';

// Debian's own python3, where python3-systemd installs its module (not a pyenv one on PATH).
const PYTHON = '/usr/bin/python3';
const hasSystemdNotify = spawnSync('systemd-notify', ['--help']).status === 0;
const hasPythonSystemd = fs.existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'from systemd import daemon']).status === 0;
const skip =
  pidfdUnsupportedReason() ??
  (!hasSystemdNotify ? 'systemd-notify missing (Debian package systemd)' : !hasPythonSystemd ? 'python3-systemd missing (Debian package python3-systemd)' : null);

let t: TestSupervisor;
let dir: string;

beforeEach(() => {
  t = createTestSupervisor();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-notify-'));
});
afterEach(async () => {
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const run = promisify(execFile);
const eventsOf = (name: string, type: string) => t.events.filter((e) => e.service.name === name && e.type === type);
/** Waits (bounded) for a file the service makes when it reaches a step. */
const stepReached = (file: string) => pollUntil(() => fs.existsSync(file), 10_000);

describe.skipIf(skip !== null)(`sd_notify${skip === null ? '' : ` (skipped: ${skip})`}`, () => {
  it('keeps a notify service starting until systemd-notify sends READY=1, and shows its STATUS=', async () => {
    const waiting = path.join(dir, 'waiting');
    const go = path.join(dir, 'go');
    const script = `touch ${waiting}; while [ ! -e ${go} ]; do sleep 0.02; done; systemd-notify --ready --status="serving 3 clients"; exec sleep 1000`;
    const info = await t.supervisor.launch({ name: 'svc', command: ['sh', '-c', script], notify: true, startGraceMs: 0 });
    expect(info.state).toBe('starting');
    expect(info.reason).toBe('started; waiting for sd_notify READY=1');
    await stepReached(waiting);
    // startGraceMs is 0, yet it is not ready: only READY=1 makes it so.
    expect(t.supervisor.get('svc').state).toBe('starting');
    fs.writeFileSync(go, '');
    await waitForState(t.supervisor, 'svc', 'running');
    const now = t.supervisor.get('svc');
    expect(now.reason).toBe('ready: sd_notify READY=1');
    await pollUntil(() => t.supervisor.get('svc').statusText !== null);
    expect(t.supervisor.get('svc').statusText).toBe('serving 3 clients');
    expect(eventsOf('svc', 'status').map((e) => e.statusText)).toEqual(['serving 3 clients']);
    expect(eventsOf('svc', 'ready')).toHaveLength(1);
    expect(now.notify).toMatchObject({ socket: path.join(t.stateDir, 'notify', `${now.id}.sock`), datagrams: { foreign: 0, malformed: 0 } });
    expect(fs.statSync(now.notify!.socket).mode & 0o777).toBe(0o600);
  });

  it('ignores READY=1 from a process outside the instance, and counts it', async () => {
    const info = await t.supervisor.launch({ name: 'guarded', command: ['sleep', '1000'], notify: true });
    const socket = info.notify!.socket;
    // The test process's own children: not in the instance's cgroup. Run without blocking
    // the event loop, which the daemon under test shares (systemd-notify waits for its
    // BARRIER=1 fd to be closed by the receiver).
    const env = { ...process.env, NOTIFY_SOCKET: socket };
    await run('systemd-notify', ['--ready', '--status=hijacked'], { env });
    await run(PYTHON, ['-c', 'from systemd import daemon; daemon.notify("READY=1\\nSTATUS=hijacked too")'], { env });
    await pollUntil(() => t.supervisor.get('guarded').notify!.datagrams.foreign >= 2);
    const now = t.supervisor.get('guarded');
    expect(now).toMatchObject({ state: 'starting', statusText: null });
    // systemd-notify sends a BARRIER=1 datagram of its own after the message.
    expect(now.notify!.datagrams).toMatchObject({ accepted: 0, foreign: now.notify!.datagrams.received });
  });

  it('SIGABRTs a service that stops sending WATCHDOG=1 (libsystemd), and restarts it under its policy', async () => {
    // Ready, then three watchdog pings, then hangs: a deadlocked service.
    const program = ['from systemd import daemon', 'import time', 'daemon.notify("READY=1")', 'for _ in range(3):', '    daemon.notify("WATCHDOG=1"); time.sleep(0.05)', 'time.sleep(1000)'].join('\n');
    await t.supervisor.launch({
      name: 'dog',
      command: [PYTHON, '-c', program],
      notify: true,
      watchdogMs: 400,
      restart: { policy: 'on-failure', initialDelayMs: 0, jitter: 0, maxRestarts: 1000 },
    });
    await waitForState(t.supervisor, 'dog', 'running');
    const first = t.supervisor.get('dog');
    expect(first.notify).toMatchObject({ watchdogMs: 400 });
    await pollUntil(() => t.supervisor.get('dog').restarts >= 1, 15_000);
    const exit = t.supervisor.service('dog').exits.find((e) => e.pid === first.pid)!;
    expect(exit).toMatchObject({ reason: 'watchdog', signal: 'SIGABRT', detail: 'missed its sd_notify watchdog: no WATCHDOG=1 within 400 ms' });
    expect(isRunning(first.pid!)).toBe(false);
  });

  it('reads WATCHDOG_USEC from the environment in libsystemd, and WATCHDOG=trigger fails the instance at once', async () => {
    const program = ['from systemd import daemon', 'import os, time', 'daemon.notify("READY=1\\nSTATUS=usec " + os.environ["WATCHDOG_USEC"])', 'time.sleep(0.2)', 'daemon.notify("WATCHDOG=trigger")', 'time.sleep(1000)'].join('\n');
    await t.supervisor.launch({ name: 'trig', command: [PYTHON, '-c', program], notify: true, watchdogMs: 60_000, restart: { policy: 'no' } });
    await waitForState(t.supervisor, 'trig', 'exited', 15_000);
    expect(t.supervisor.get('trig').exit).toMatchObject({ reason: 'watchdog', signal: 'SIGABRT', detail: 'sd_notify WATCHDOG=trigger' });
    expect(eventsOf('trig', 'status').map((e) => e.statusText)).toEqual(['usec 60000000']);
  });

  it('counts malformed and oversize datagrams from the instance and acts on none of them', async () => {
    // A raw sender inside the instance (the protocol's bad cases; libsystemd never sends them).
    const program = [
      'import os, socket',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      'where = os.environ["NOTIFY_SOCKET"]',
      's.sendto(b"READY=1\\nNOEQUALS", where)',
      's.sendto(b"STATUS=\\xff\\xfe", where)',
      's.sendto(b"READY=1\\nSTATUS=" + b"x" * 5000, where)',
      's.sendto(b"STATUS=still here", where)',
      'import time; time.sleep(1000)',
    ].join('\n');
    await t.supervisor.launch({ name: 'noisy', command: [PYTHON, '-c', program], notify: true });
    await pollUntil(() => t.supervisor.get('noisy').statusText === 'still here');
    const now = t.supervisor.get('noisy');
    expect(now.state).toBe('starting');
    expect(now.notify!.datagrams).toMatchObject({ received: 4, accepted: 1, malformed: 2, oversize: 1, foreign: 0 });
  });

  it('takes a new main pid from inside the instance (MAINPID=), held by pidfd, and outlives the old one', async () => {
    // A forking launcher: starts the real server, names it, exits.
    const script = `sleep 1000 & systemd-notify --ready "MAINPID=$!"; exit 0`;
    const info = await t.supervisor.launch({ name: 'forker', command: ['sh', '-c', script], notify: true, killMode: 'cgroup', restart: { policy: 'no' } });
    await waitForState(t.supervisor, 'forker', 'running');
    await pollUntil(() => t.supervisor.get('forker').pid !== info.pid);
    const main = t.supervisor.get('forker').pid!;
    expect(fs.readFileSync(`/proc/${main}/cmdline`, 'utf8')).toBe('sleep\u00001000\u0000');
    // The launcher's exit is not the instance's: it stays running, with the new main process.
    await pollUntil(() => !isRunning(info.pid!));
    expect(t.supervisor.get('forker')).toMatchObject({ state: 'running', pid: main, exit: null });
    // The new main process is the instance now: its end ends the instance.
    process.kill(main, 'SIGKILL');
    await waitForState(t.supervisor, 'forker', 'exited');
    expect(t.supervisor.get('forker').exit).toMatchObject({ pid: main, signal: 'SIGKILL', reason: 'exited' });
  });

  it('records RELOADING=1 (with MONOTONIC_USEC), ERRNO= and STOPPING=1, and READY=1 ends the reload (libsystemd)', async () => {
    // Each step waits for a file the test makes, so that every state is seen, whatever the load.
    const program = [
      'from systemd import daemon',
      'import os, sys, time',
      'def wait_for(name):',
      '    while not os.path.exists(os.path.join(sys.argv[1], name)): time.sleep(0.02)',
      'daemon.notify("READY=1")',
      'daemon.notify("RELOADING=1\\nMONOTONIC_USEC=123456\\nERRNO=5\\nSTATUS=reloading")',
      'wait_for("reloaded")',
      'daemon.notify("READY=1\\nSTATUS=reloaded")',
      'wait_for("stopping")',
      'daemon.notify("STOPPING=1\\nSTATUS=bye")',
      'time.sleep(1000)',
    ].join('\n');
    await t.supervisor.launch({ name: 'reloader', command: [PYTHON, '-c', program, dir], notify: true });
    await pollUntil(() => t.supervisor.get('reloader').statusText === 'reloading');
    expect(t.supervisor.get('reloader').notify).toMatchObject({ reloading: true, reloadMonotonicUsec: 123456, errno: 5, stopping: false });
    fs.writeFileSync(path.join(dir, 'reloaded'), '');
    await pollUntil(() => t.supervisor.get('reloader').statusText === 'reloaded');
    expect(t.supervisor.get('reloader').notify).toMatchObject({ reloading: false, stopping: false });
    fs.writeFileSync(path.join(dir, 'stopping'), '');
    await pollUntil(() => t.supervisor.get('reloader').statusText === 'bye');
    expect(t.supervisor.get('reloader').notify).toMatchObject({ reloading: false, stopping: true, errno: 5 });
    expect(eventsOf('reloader', 'status').map((e) => e.statusText)).toEqual(['reloading', 'reloaded', 'bye']);
  });

  it('fails a start with no READY=1 within a notify readiness timeoutMs, unless EXTEND_TIMEOUT_USEC= extends it', async () => {
    // Both wait for a file the test makes only once `late` has failed: by then the 5 s of
    // `extended` are over too, and only its extension keeps it starting.
    const go = path.join(dir, 'go');
    const program = (extend: boolean) =>
      ['from systemd import daemon', 'import os, time', ...(extend ? ['daemon.notify("EXTEND_TIMEOUT_USEC=120000000")'] : []), `while not os.path.exists(${JSON.stringify(go)}): time.sleep(0.02)`, 'daemon.notify("READY=1")', 'time.sleep(1000)'].join('\n');
    const spec = { notify: true, readiness: { kind: 'notify', timeoutMs: 5000 }, restart: { policy: 'no' } };
    await t.supervisor.launch({ name: 'late', command: [PYTHON, '-c', program(false)], ...spec });
    await t.supervisor.launch({ name: 'extended', command: [PYTHON, '-c', program(true)], ...spec });
    await waitForState(t.supervisor, 'late', 'exited', 20_000);
    expect(t.supervisor.get('late').exit).toMatchObject({ reason: 'not-ready', detail: 'never became ready: no sd_notify READY=1 within 5000 ms' });
    await pollUntil(() => Date.now() - Date.parse(t.supervisor.get('extended').startedAt!) > 5500, 10_000);
    expect(t.supervisor.get('extended').state).toBe('starting');
    fs.writeFileSync(go, '');
    expect(await t.supervisor.service('extended').waitReady()).toEqual({ ready: true, reason: 'ready: sd_notify READY=1' });
  }, 60_000);

  it('takes a new main process passed as a pidfd (MAINPIDFD=1 with SCM_RIGHTS, libsystemd)', async () => {
    const program = [
      'from systemd import daemon',
      'import os, time',
      'child = os.fork()',
      'if child == 0:',
      '    time.sleep(1000)',
      '    os._exit(0)',
      'fd = os.pidfd_open(child)',
      'daemon.notify("MAINPIDFD=1\\nREADY=1", fds=[fd])',
      'time.sleep(1000)',
    ].join('\n');
    const info = await t.supervisor.launch({ name: 'pidfd', command: [PYTHON, '-c', program], notify: true, killMode: 'cgroup' });
    await waitForState(t.supervisor, 'pidfd', 'running');
    await pollUntil(() => t.supervisor.get('pidfd').pid !== info.pid);
    const main = t.supervisor.get('pidfd').pid!;
    expect(procStat(main)[1]).toBe(String(info.pid)); // the forked child of the first main process
  });

  it.skipIf(spawnSync('redis-server', ['--version']).status !== 0)('makes redis-server --supervised systemd ready through its own READY=1 (Debian redis-server)', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const command = ['redis-server', '--supervised', 'systemd', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    const outcome = await (await t.supervisor.launch({ name: 'redis', command, notify: true }), t.supervisor.service('redis').waitReady());
    expect(outcome).toEqual({ ready: true, reason: 'ready: sd_notify READY=1' });
    await pollUntil(() => t.supervisor.get('redis').statusText !== null);
    expect(t.supervisor.get('redis').statusText).toMatch(/ready to accept connections/i);
    // Ready means it answers.
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        resolve(data.toString());
        socket.destroy();
      });
      socket.once('error', reject);
    });
    expect(reply).toBe('+PONG\r\n');
  });
});
