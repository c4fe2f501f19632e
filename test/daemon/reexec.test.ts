// `pidvisor daemon reexec` under load, on real processes: the daemon hands everything to
// pidvisor-keeper and exits, the keeper re-executes itself from disk (a different file by then:
// the test replaces the keeper's binary, as an upgrade does) and starts a new daemon, which
// takes everything over. While that happens, clients hammer GET /v1/processes and launch
// services over the unix socket and over TCP, each request on a new connection.
//   - no request fails in any way (no ECONNREFUSED, ENOENT, reset, 5xx): those made during the
//     hand-over wait in the listening sockets' backlog and are answered by the new daemon;
//   - no service is restarted: every one keeps its pid and instance, restarts stay 0;
//   - a writer of sequence-numbered lines loses no line and repeats none; so does a process an
//     ended instance left behind (kill mode `process`) writing to the instance's output;
//   - the keeper keeps its pid and runs the new binary (/proc/PID/exe is the new file's inode);
//   - a long poll open during the hand-over answers 503 HANDING_OVER (ask again);
//   - the CLI prints the old and the new daemon's pid; the audit log has the request.
// Without the keeper (PIDVISOR_KEEPER=off) the request is refused with 409 NO_KEEPER and the
// daemon goes on serving.
import { execFile, spawn as spawnWithLibuv, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listLogFiles, readLogFile } from '../../daemon/logs/index.js';
import { PIDVISOR_BIN, requestJson, startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { KEEPER_BIN } from '../helpers/keeper.js';
import { pollUntil, procStat } from '../helpers/proc.js';
import { takeOverSkipReason } from '../helpers/take-over.js';

function skipReason(): string | null {
  const takeOver = takeOverSkipReason('the keeper reports exits without an instance token');
  if (takeOver !== null) return takeOver;
  if (!fs.existsSync(KEEPER_BIN)) return `pidvisor-keeper is not built (${KEEPER_BIN})`;
  return null;
}
const reason = skipReason();

interface Info {
  id: string;
  name: string;
  pid: number | null;
  instance: string | null;
  restarts: number;
  state: string;
}

type Target = { socketPath: string } | { host: string; port: number; token: string };
type Outcome = { status: number | string; phase: string };

let dir = '';
let keeper: ChildProcess | null = null;
let offDaemon: DaemonProcess | null = null;

afterEach(async () => {
  if (keeper !== null && keeper.exitCode === null && keeper.signalCode === null) {
    const exited = new Promise((resolve) => keeper!.once('exit', resolve));
    keeper.kill('SIGTERM'); // a clean stop: every service stopped, the cgroup subtree removed
    await exited;
  }
  keeper = null;
  await offDaemon?.stop('SIGTERM');
  offDaemon = null;
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  dir = '';
});

/** One request on a new connection: the status, or the error code. */
function send(target: Target, method: string, url: string, body?: unknown): Promise<{ status: number | string; body: string }> {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = payload === undefined ? {} : { 'content-type': 'application/json' };
    const request = http.request(
      {
        ...('socketPath' in target ? { socketPath: target.socketPath } : { host: target.host, port: target.port }),
        headers: 'token' in target ? { ...headers, authorization: `Bearer ${target.token}` } : headers,
        method,
        path: url,
        agent: false,
        timeout: 60_000,
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? error.message, body: '' }));
      },
    );
    request.on('timeout', () => request.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? error.message, body: '' }));
    request.end(payload);
  });
}

/** The complete stdout lines of a service's log files, oldest first (partial records joined). */
async function loggedLines(stateDir: string, info: Info): Promise<string[]> {
  const lines: string[] = [];
  let pending = '';
  for (const file of await listLogFiles(path.join(stateDir, 'logs'), `${info.name}.${info.id}`)) {
    for (const record of (await readLogFile(file)).records) {
      if (record.stream !== 'stdout') continue;
      pending += record.data.toString('utf8');
      if (record.partial) continue;
      lines.push(pending);
      pending = '';
    }
  }
  if (pending !== '') lines.push(pending);
  return lines;
}

/** The keeper's child running pidvisor.js: the Node daemon (0 while none runs). */
function daemonOf(keeperPid: number): number {
  const children = fs.readFileSync(`/proc/${keeperPid}/task/${keeperPid}/children`, 'utf8').trim().split(' ').filter(Boolean);
  const found = children.find((child) => {
    try {
      return fs.readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').includes(PIDVISOR_BIN);
    } catch {
      return false;
    }
  });
  return found === undefined ? 0 : Number(found);
}

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PIDVISOR_BIN, ...args], { timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

describe.skipIf(reason !== null)(`pidvisor daemon reexec${reason === null ? '' : ` (skipped: ${reason})`}`, () => {
  it('under load over unix and TCP: no request fails, no service restarts, no log line is lost or repeated, the keeper runs its new binary', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-reexec-'));
    const socketPath = path.join(dir, 'api.sock');
    const stateDir = path.join(dir, 'state');
    const token = 'a-test-token-of-32-characters-xx';
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, token, { mode: 0o600 });
    // A copy of the keeper, so that the test can replace its binary as an upgrade would.
    const keeperFile = path.join(dir, 'bin', 'pidvisor-keeper');
    fs.mkdirSync(path.dirname(keeperFile));
    fs.copyFileSync(KEEPER_BIN, keeperFile);
    fs.chmodSync(keeperFile, 0o755);
    const logs: Array<Record<string, unknown>> = [];
    keeper = spawnWithLibuv(
      keeperFile,
      ['--node', process.execPath, '--script', PIDVISOR_BIN, 'daemon', '--socket', socketPath, '--state-dir', stateDir,
        '--cgroup-name', `pidvisor-test-reexec-${process.pid}`, '--listen', '127.0.0.1:0', '--token-file', tokenFile],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let pendingLog = '';
    keeper.stderr!.on('data', (chunk: Buffer) => {
      const all = (pendingLog + chunk.toString()).split('\n');
      pendingLog = all.pop()!;
      for (const line of all) {
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ msg: line, unparsed: true });
        }
      }
    });
    const keeperPid = keeper.pid!;
    await pollUntil(() => logs.some((r) => r.msg === 'api listening'), 30_000);
    const port = (logs.find((r) => r.msg === 'api listening')!.tcp as { port: number }).port;
    const unix: Target = { socketPath };
    const tcp: Target = { host: '127.0.0.1', port, token };

    // Services before the hand-over: quiet ones, and a writer of numbered lines in bursts, the
    // last line of each burst written in two halves around a pause, so that at any moment
    // output is likely in flight: in its pipe, as an unfinished line held by the daemon, on
    // the way to disk. Told to stop, it writes a last line and exits 0.
    const stopWriter = path.join(dir, 'stop-writer');
    const launch = async (target: Target, spec: Record<string, unknown>): Promise<Info> => {
      const answer = await send(target, 'POST', '/v1/processes', spec);
      expect(answer.status, answer.body).toBe(201);
      return JSON.parse(answer.body) as Info;
    };
    const before: Info[] = [];
    for (let i = 0; i < 4; i++) before.push(await launch(unix, { name: `quiet${i}`, command: ['sleep', '1000'], stdout: 'null', stderr: 'null' }));
    const writer = await launch(unix, {
      name: 'writer',
      command: ['sh', '-c', `i=0; while [ ! -e ${stopWriter} ]; do j=0; while [ $j -lt 50 ]; do echo "$i"; i=$((i+1)); j=$((j+1)); done; printf "%d" "$i"; sleep 0.005; echo; i=$((i+1)); done; echo "end $i"`],
    });
    before.push(writer);
    await pollUntil(() => before.every((info) => fs.existsSync(`/proc/${info.pid}`)), 10_000);
    // An instance that ends at once, leaving behind a process that goes on writing to its
    // output: the pipe must outlive the daemon that read it.
    const stopLeftover = path.join(dir, 'stop-leftover');
    const leftover = await launch(unix, {
      name: 'leftover',
      command: ['sh', '-c', `(i=0; while [ ! -e ${stopLeftover} ]; do echo "$i"; i=$((i+1)); sleep 0.01; done; echo "end $i") & exit 0`],
      killMode: 'process',
      restart: { policy: 'no' },
    });
    await pollUntil(() => !fs.existsSync(`/proc/${leftover.pid}`), 10_000);

    // Load: each client sends one request after the other, each on a new connection, until
    // told to stop; GETs on both transports, and launches on both.
    let phase = 'before';
    let stopped = false;
    const launched: Array<{ info: Info; via: string }> = [];
    const outcomes: Record<string, Outcome[]> = { getUnix: [], getTcp: [], launchUnix: [], launchTcp: [] };
    const client = async (name: string, work: (i: number) => Promise<{ status: number | string; body: string }>): Promise<void> => {
      // Bounded: the test stops it long before.
      for (let i = 0; i < 100_000 && !stopped; i++) {
        const answer = await work(i);
        outcomes[name]!.push({ status: answer.status, phase });
      }
    };
    const launchWork = (target: Target, via: string) => async (i: number) => {
      if (i >= 40) {
        await new Promise((resolve) => setTimeout(resolve, 20)); // enough launched; keep the loop bounded in rate
        return { status: 200, body: '' };
      }
      const answer = await send(target, 'POST', '/v1/processes', { name: `load-${via}-${i}`, command: ['sleep', '1000'], stdout: 'null', stderr: 'null' });
      if (answer.status === 201) launched.push({ info: JSON.parse(answer.body) as Info, via });
      return answer;
    };
    const clients = Promise.all([
      client('getUnix', () => send(unix, 'GET', '/v1/processes')),
      client('getTcp', () => send(tcp, 'GET', '/v1/processes')),
      client('launchUnix', launchWork(unix, 'unix')),
      client('launchTcp', launchWork(tcp, 'tcp')),
    ]);
    await pollUntil(() => Object.values(outcomes).every((list) => list.length >= 3), 30_000);

    // A long poll open across the hand-over.
    const longPoll = send(unix, 'GET', `/v1/processes/quiet0/wait?timeoutMs=60000`);
    // A job launched, awaited and removed in one request (`run --wait --rm`) whose exit comes
    // after the hand-over: the CLI goes on waiting on the new daemon, exits with the job's
    // status, and removes it; the job is neither launched twice nor left behind.
    const stopJob = path.join(dir, 'stop-job');
    const job = runCli(['run', '--socket', socketPath, '--wait', '--rm', '--name', 'job', '--restart', 'no', '--', 'sh', '-c', `until [ -e ${stopJob} ]; do sleep 0.05; done; exit 7`]);
    for (let tries = 0; tries < 300 && (await send(unix, 'GET', '/v1/processes/job')).status !== 200; tries++) await new Promise((resolve) => setTimeout(resolve, 100));
    const oldDaemon = daemonOf(keeperPid);
    const startTime = procStat(keeperPid)[19]; // field 22: the keeper's start, unchanged by an exec
    const oldExe = fs.statSync(`/proc/${keeperPid}/exe`).ino;
    expect(oldExe).toBe(fs.statSync(keeperFile).ino);
    // The upgrade: a new keeper binary (a new file at the same path, as a package manager
    // installs one), then the reexec.
    fs.copyFileSync(KEEPER_BIN, `${keeperFile}.new`);
    fs.chmodSync(`${keeperFile}.new`, 0o755);
    fs.renameSync(`${keeperFile}.new`, keeperFile);
    const newExe = fs.statSync(keeperFile).ino;
    expect(newExe).not.toBe(oldExe);

    phase = 'during';
    const cli = await runCli(['daemon', 'reexec', '--socket', socketPath, '--timeout', '90']);
    phase = 'after';
    expect(cli.code, cli.stderr).toBe(0);
    const newDaemon = daemonOf(keeperPid);
    expect(newDaemon).not.toBe(0);
    expect(newDaemon).not.toBe(oldDaemon);
    expect(cli.stdout).toContain(`pid ${oldDaemon} -> ${newDaemon}`);

    // The new daemon answers every client a few times, then the load stops.
    await pollUntil(() => Object.values(outcomes).every((list) => list.filter((o) => o.phase === 'after').length >= 3), 60_000);
    stopped = true;
    await clients;
    const byPhase = JSON.stringify(Object.fromEntries(Object.entries(outcomes).map(([n, l]) => [n, ['before', 'during', 'after'].map((p) => l.filter((o) => o.phase === p).length)])));
    for (const [name, list] of Object.entries(outcomes)) {
      const failed = list.filter((o) => o.status !== 200 && o.status !== 201);
      expect(failed, `${name}: requests before, during, after the hand-over: ${byPhase}`).toEqual([]);
    }
    expect(outcomes.getUnix!.filter((o) => o.phase === 'during').length + outcomes.getTcp!.filter((o) => o.phase === 'during').length).toBeGreaterThan(0);

    const jobBefore = JSON.parse((await send(unix, 'GET', '/v1/processes/job')).body) as Info;
    fs.writeFileSync(stopJob, '');
    const jobRun = await job;
    expect(jobRun.code, jobRun.stderr).toBe(7);
    expect((await send(unix, 'GET', '/v1/processes/job')).status).toBe(404);
    expect(fs.existsSync(`/proc/${jobBefore.pid}`)).toBe(false);

    const wait = await longPoll;
    expect(wait.status).toBe(503);
    expect(JSON.parse(wait.body)).toMatchObject({ code: 'PIDVISOR_ERR_HANDING_OVER' });

    // Every service as it was: same pid and instance, never restarted.
    const { body } = await requestJson(socketPath, 'GET', '/v1/processes');
    const now = new Map((body.processes as Info[]).map((info) => [info.name, info]));
    for (const info of [...before, ...launched.map((l) => l.info)]) {
      expect(now.get(info.name), info.name).toMatchObject({ state: expect.stringMatching(/^(running|starting)$/), pid: info.pid, instance: info.instance, restarts: 0 });
    }
    expect(launched.length).toBeGreaterThan(0);

    // The keeper: the same process (pid, start time), now running the new file.
    expect(procStat(keeperPid)[19]).toBe(startTime);
    expect(fs.statSync(`/proc/${keeperPid}/exe`).ino).toBe(newExe);
    expect(logs.some((r) => r.msg === 're-executing the keeper from disk' && r.pid === keeperPid)).toBe(true);
    expect(logs.some((r) => r.msg === "took over the previous keeper's state" && r.pid === keeperPid)).toBe(true);
    expect(logs.find((r) => r.msg === 'api listening' && r.daemonPid === newDaemon)).toMatchObject({ inherited: true, tcp: { port } });

    // The writers' output: every line once, in order, across the hand-over.
    fs.writeFileSync(stopWriter, '');
    fs.writeFileSync(stopLeftover, '');
    for (const info of [writer, leftover]) {
      // Bounded: the new daemon writes the last line out within a few seconds.
      let lines: string[] = [];
      for (let tries = 0; tries < 300 && lines.at(-1)?.startsWith('end ') !== true; tries++) {
        lines = await loggedLines(stateDir, info);
        if (lines.at(-1)?.startsWith('end ') !== true) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(lines.at(-1), `${info.name}: its last line (a writer killed by SIGPIPE writes none)`).toMatch(/^end \d+$/);
      const count = Number(lines.at(-1)!.slice('end '.length));
      const numbers = lines.slice(0, -1).map(Number);
      expect(numbers.length, `${info.name}: lines logged`).toBe(count);
      const wrong = numbers.flatMap((n, i) => (n === i ? [] : [`line ${i} is ${n}`]));
      expect(wrong.slice(0, 5), info.name).toEqual([]);
    }

    // The request is in the audit log, with its answer.
    const audit = fs.readFileSync(path.join(stateDir, 'audit.log'), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(audit.find((entry) => entry.url === '/v1/system/reexec')).toMatchObject({ method: 'POST', status: 202, target: 'daemon', detail: { daemonPid: oldDaemon, keeperPid } });
  }, 240_000);

  it('without the keeper: 409 NO_KEEPER, the CLI says why and exits 1, and the daemon goes on serving', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-reexec-off-'));
    const socketPath = path.join(dir, 'api.sock');
    offDaemon = startDaemonProcess(['--socket', socketPath, '--state-dir', path.join(dir, 'state'), '--cgroup-name', `pidvisor-test-reexec-off-${process.pid}`], {
      env: { PIDVISOR_KEEPER: 'off' },
    });
    await offDaemon.waitForLog((r) => r.msg === 'api listening', 30_000);
    const launched = await requestJson(socketPath, 'POST', '/v1/processes', { name: 'quiet', command: ['sleep', '1000'], stdout: 'null', stderr: 'null' });
    expect(launched.status).toBe(201);

    const refused = await requestJson(socketPath, 'POST', '/v1/system/reexec', {});
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'PIDVISOR_ERR_NO_KEEPER', detail: expect.stringContaining('PIDVISOR_KEEPER=off') });
    const cli = await runCli(['daemon', 'reexec', '--socket', socketPath]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('PIDVISOR_ERR_NO_KEEPER');

    // Nothing changed: the same daemon answers, the service runs on.
    const { body } = await requestJson(socketPath, 'GET', '/v1/system');
    expect(body.pid).toBe(offDaemon.process.pid);
    expect((await requestJson(socketPath, 'GET', '/v1/processes/quiet')).body).toMatchObject({ state: expect.stringMatching(/^(running|starting)$/), pid: launched.body.pid, restarts: 0 });
    expect(await offDaemon.stop('SIGTERM')).toBe(0);
    offDaemon = null;
  }, 120_000);
});
