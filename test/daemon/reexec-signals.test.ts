// A stop signal or SIGHUP that reaches pidvisor while the daemon hands over to a new one
// (`pidvisor daemon reexec`) takes effect: the hand-over completes, and the new daemon stops
// (or reloads) once it has taken everything over. Nothing is started twice, nothing is left
// behind, and nobody waits for SIGKILL (a PID 1 or a systemd unit stopped during an upgrade).
//
// The window: the old daemon's hand-over first answers the API connections it accepted; one
// whose request is still arriving (the test sends the headers, with Expect: 100-continue, and
// holds the body) keeps it in that step until the test lets go. The signal is sent, then taken
// in (a log line names it), and only then is the connection closed.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { requestJson, startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { isRunning, pollUntil } from '../helpers/proc.js';
import { takeOverSkipReason } from '../helpers/take-over.js';

const reason = takeOverSkipReason('the keeper reports exits without an instance token');

let dir = '';
let daemon: DaemonProcess | null = null;
let leftovers: number[] = [];

afterEach(async () => {
  if (daemon !== null && daemon.process.exitCode === null && daemon.process.signalCode === null) await daemon.stop('SIGTERM');
  for (const pid of leftovers) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  daemon = null;
  leftovers = [];
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  dir = '';
});

/** An API request whose body has not arrived: the daemon has read its headers (it said 100 Continue) and waits. */
async function holdRequest(socketPath: string): Promise<net.Socket> {
  const socket = net.connect(socketPath);
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  socket.on('error', () => {}); // closed by the test, or by the daemon's exit
  socket.write('POST /v1/processes HTTP/1.1\r\nHost: pidvisor\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n');
  await pollUntil(() => answer.startsWith('HTTP/1.1 100 Continue'), 15_000);
  return socket;
}

interface Scenario {
  name: string;
  signal: NodeJS.Signals;
  /** The keeper (what systemd, a container runtime, a shell signal) or the Node daemon itself. */
  to: 'keeper' | 'daemon';
}

const stops: Scenario[] = [
  { name: 'SIGTERM to the keeper (systemctl stop, docker stop)', signal: 'SIGTERM', to: 'keeper' },
  { name: 'SIGINT to the daemon itself', signal: 'SIGINT', to: 'daemon' },
];

async function startWithService(configFile?: string): Promise<{ socketPath: string; marks: string; servicePid: number; oldDaemon: number }> {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-reexec-signals-'));
  const socketPath = path.join(dir, 'api.sock');
  const marks = path.join(dir, 'marks');
  daemon = startDaemonProcess([
    '--socket', socketPath, '--state-dir', path.join(dir, 'state'), '--cgroup-name', `pidvisor-test-reexec-signals-${process.pid}`,
    ...(configFile === undefined ? [] : ['--config', configFile]),
  ]);
  await daemon.waitForLog((r) => r.msg === 'api listening', 30_000);
  // One line per start and one per stop: a second start would show.
  const launched = await requestJson(socketPath, 'POST', '/v1/processes', {
    name: 'svc',
    command: ['sh', '-c', `echo "start $$" >> ${marks}; trap 'echo "stop $$" >> ${marks}; exit 0' TERM; while :; do sleep 0.05; done`],
  });
  expect(launched.status).toBe(201);
  const servicePid = launched.body.pid as number;
  leftovers.push(servicePid);
  await pollUntil(() => fs.existsSync(marks) && fs.readFileSync(marks, 'utf8') !== '', 10_000);
  return { socketPath, marks, servicePid, oldDaemon: daemon.supervisorPid() };
}

/** Begins a reexec held in its first step; returns a function that lets it go on. */
async function beginHeldReexec(socketPath: string): Promise<() => void> {
  const held = await holdRequest(socketPath);
  const accepted = await requestJson(socketPath, 'POST', '/v1/system/reexec', {});
  expect(accepted.status).toBe(202);
  await daemon!.waitForLog((r) => r.msg === 'reexec: handing everything over to the keeper for a new daemon', 15_000);
  return () => held.destroy();
}

describe.skipIf(reason !== null)(`signals during a reexec's hand-over${reason === null ? '' : ` (skipped: ${reason})`}`, () => {
  for (const scenario of stops) {
    it(`${scenario.name}: the hand-over completes, then the new daemon stops every service and the keeper exits 0`, async () => {
      const { socketPath, marks, servicePid, oldDaemon } = await startWithService();
      const keeperPid = daemon!.process.pid!;
      const letGo = await beginHeldReexec(socketPath);

      process.kill(scenario.to === 'keeper' ? keeperPid : oldDaemon, scenario.signal);
      // Taken in during the hand-over (the keeper or the old daemon says so; before the fix, the
      // old daemon said it ignored it) while the old daemon is still handing over: it cannot
      // finish before letGo().
      const number = os.constants.signals[scenario.signal];
      const duringHandOver = (r: Record<string, unknown>): boolean =>
        String(r.msg).startsWith('stop asked for during a hand-over') || (/hand(ing |-)over/.test(String(r.msg)) && (r.signal === scenario.signal || r.signal === number));
      await daemon!.waitForLog(duringHandOver, 15_000);
      expect(isRunning(oldDaemon)).toBe(true);
      letGo();

      // The upgrade happened (the keeper re-executed, a new daemon took the service over), and
      // then the stop: the keeper exits 0 after its daemon's clean stop.
      await pollUntil(() => daemon!.process.exitCode !== null || daemon!.process.signalCode !== null, 60_000);
      expect(await daemon!.exited).toBe(0);
      expect(daemon!.logs.some((r) => r.msg === 'took over the previous keeper\'s state')).toBe(true);
      expect(daemon!.logs.filter((r) => r.msg === 'daemon starting').length).toBe(2);
      expect(daemon!.logs.filter((r) => r.msg === 'took over from the previous daemon').length).toBe(1);
      // Started once (by the first daemon), stopped once (by the second): never twice.
      expect(fs.readFileSync(marks, 'utf8')).toBe(`start ${servicePid}\nstop ${servicePid}\n`);
      expect(isRunning(servicePid)).toBe(false);
      expect(isRunning(oldDaemon)).toBe(false);
    }, 120_000);
  }

  it('SIGHUP to the keeper: the hand-over completes, then the new daemon reloads its config, restarting nothing', async () => {
    const configFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-reexec-hup-')), 'pidvisor.yaml');
    fs.writeFileSync(configFile, ['services:', '  configured:', '    command: [sleep, "1000"]', '    startGraceMs: 0', ''].join('\n'));
    const { socketPath, servicePid } = await startWithService(configFile);
    const configured = (await requestJson(socketPath, 'GET', '/v1/processes/configured')).body;
    leftovers.push(configured.pid as number);
    const keeperPid = daemon!.process.pid!;
    const letGo = await beginHeldReexec(socketPath);

    process.kill(keeperPid, 'SIGHUP');
    await daemon!.waitForLog((r) => String(r.msg).startsWith('SIGHUP during a hand-over') || (/hand(ing |-)over/.test(String(r.msg)) && r.signal === os.constants.signals.SIGHUP), 15_000);
    letGo();

    // The new daemon applies the file as it starts (as every daemon does), then reloads it on
    // the SIGHUP passed to it once it has taken over: a second "config applied".
    await daemon!.waitForLog((r) => r.msg === 'took over from the previous daemon', 60_000);
    const tookOver = daemon!.logs.findIndex((r) => r.msg === 'took over from the previous daemon');
    await pollUntil(() => daemon!.logs.slice(tookOver).filter((r) => r.msg === 'config applied').length === 2, 30_000);
    expect(daemon!.process.exitCode).toBe(null);
    const after = (await requestJson(socketPath, 'GET', '/v1/processes')).body.processes as Array<Record<string, unknown>>;
    expect(after.map((p) => [p.name, p.pid, p.restarts]).sort()).toEqual([['configured', configured.pid, 0], ['svc', servicePid, 0]]);
    fs.rmSync(path.dirname(configFile), { recursive: true, force: true });
  }, 120_000);
});
