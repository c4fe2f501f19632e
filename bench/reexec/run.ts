// The cost of `pidvisor daemon reexec` to API clients (issue 10): with 1,000 services (each with
// its stdout and stderr captured, so the keeper holds 3,000 fds besides the listeners), clients
// send GET /v1/processes one after the other, each on a new connection, while the daemon hands
// over to a new one. Latency of the requests sent during the hand-over (from the reexec request
// until a new daemon answers: they wait in the listening socket's backlog) against the steady
// state before it, in the same run; and after it. Also: the hand-over time, failed requests
// (there must be none) and services restarted (there must be none: same pid and instance).
// Run: npm run build, then npm run bench:reexec (node dist/bench/reexec/run.js).
// Knobs: BENCH_REEXEC_SERVICES (1000), BENCH_REEXEC_CLIENTS (4), BENCH_REEXEC_STEADY_MS (5000).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pidvisorBin } from '../api/paths.js';
import { percentile, round } from '../api/stats.js';

const int = (name: string, fallback: number, min: number): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}`);
  return value;
};
const config = {
  services: int('BENCH_REEXEC_SERVICES', 1000, 1),
  clients: int('BENCH_REEXEC_CLIENTS', 4, 1),
  steadyMs: int('BENCH_REEXEC_STEADY_MS', 5000, 500),
};
const BATCH = 200;
const HANDOVER_TIMEOUT_MS = 300_000;

const progress = (line: string): void => void process.stderr.write(`[reexec] ${line}\n`);
const loadavg = (): string => fs.readFileSync('/proc/loadavg', 'utf8').trim();

interface Answer {
  status: number | string;
  body: string;
}

function request(socketPath: string, method: string, url: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { socketPath, method, path: url, agent: false, timeout: HANDOVER_TIMEOUT_MS, headers: payload === undefined ? {} : { 'content-type': 'application/json' } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        response.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? error.message, body: '' }));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? error.message, body: '' }));
    req.end(payload);
  });
}

interface Sample {
  sentAt: number;
  ms: number;
  status: number | string;
}

/** `clients` loops of GET /v1/processes until `stop()`; each sample with when it was sent. */
function hammer(socketPath: string, stop: () => boolean): { samples: Sample[]; done: Promise<void> } {
  const samples: Sample[] = [];
  const loop = async (): Promise<void> => {
    // Bounded: stopped by the bench long before.
    for (let i = 0; i < 1_000_000 && !stop(); i++) {
      const sentAt = performance.now();
      const { status } = await request(socketPath, 'GET', '/v1/processes');
      samples.push({ sentAt, ms: performance.now() - sentAt, status });
    }
  };
  return { samples, done: Promise.all(Array.from({ length: config.clients }, loop)).then(() => undefined) };
}

function summary(samples: Sample[]): Record<string, number> {
  const ms = samples.map((s) => s.ms);
  return { requests: ms.length, p50: round(percentile(ms, 50), 1), p99: round(percentile(ms, 99), 1), max: round(Math.max(...ms), 1) };
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvb-reexec-'));
  const socketPath = path.join(dir, 'api.sock');
  const logFile = path.join(dir, 'daemon.log');
  const log = fs.openSync(logFile, 'a');
  progress(`loadavg at start: ${loadavg()}; ${config.services} services, ${config.clients} clients; daemon log ${logFile}`);
  // The CLI execs into pidvisor-keeper (same pid), which starts the daemon: what a user runs.
  const keeper: ChildProcess = spawn(process.execPath, [pidvisorBin, 'daemon', '--socket', socketPath, '--state-dir', path.join(dir, 'state'), '--cgroup-name', `pvb-reexec-${process.pid}`], {
    stdio: ['ignore', log, log],
  });
  const exited = new Promise<void>((resolve) => keeper.once('exit', () => resolve()));
  try {
    await waitFor(async () => (await request(socketPath, 'GET', '/healthz')).status === 200, 60_000, 'the daemon');
    const launchedAt = performance.now();
    for (let from = 0; from < config.services; from += BATCH) {
      const processes = Array.from({ length: Math.min(BATCH, config.services - from) }, (_, i) => ({ name: `s${from + i}`, command: ['sleep', '100000'] }));
      const answer = await request(socketPath, 'POST', '/v1/processes/batch', { processes });
      if (answer.status !== 201) throw new Error(`batch launch: ${answer.status} ${answer.body.slice(0, 300)}`);
    }
    progress(`${config.services} services launched in ${Math.round(performance.now() - launchedAt)} ms`);
    const listed = async (): Promise<Map<string, string>> => {
      const { body } = await request(socketPath, 'GET', '/v1/processes');
      const processes = (JSON.parse(body) as { processes: Array<{ name: string; pid: number; instance: string; restarts: number }> }).processes;
      return new Map(processes.map((p) => [p.name, `${p.pid}/${p.instance}/${p.restarts}`]));
    };
    const system = async (): Promise<number> => (JSON.parse((await request(socketPath, 'GET', '/v1/system')).body) as { pid: number }).pid;
    const identities = await listed();
    const oldDaemon = await system();

    // Steady state, then the hand-over, then steady state on the new daemon, in one stream.
    let stopped = false;
    const load = hammer(socketPath, () => stopped);
    await new Promise((resolve) => setTimeout(resolve, config.steadyMs));
    const reexecAt = performance.now();
    const accepted = await request(socketPath, 'POST', '/v1/system/reexec', {});
    if (accepted.status !== 202) throw new Error(`reexec: ${accepted.status} ${accepted.body}`);
    let newDaemon = 0;
    await waitFor(
      async () => {
        newDaemon = await system().catch(() => 0);
        return newDaemon !== 0 && newDaemon !== oldDaemon;
      },
      HANDOVER_TIMEOUT_MS,
      'the new daemon',
    );
    const answeredAt = performance.now();
    progress(`hand-over: ${Math.round(answeredAt - reexecAt)} ms from the request to the new daemon (pid ${oldDaemon} -> ${newDaemon}) answering`);
    await new Promise((resolve) => setTimeout(resolve, config.steadyMs));
    stopped = true;
    await load.done;

    const steady = load.samples.filter((s) => s.sentAt < reexecAt);
    const during = load.samples.filter((s) => s.sentAt >= reexecAt && s.sentAt < answeredAt);
    const after = load.samples.filter((s) => s.sentAt >= answeredAt);
    const failed = load.samples.filter((s) => s.status !== 200);
    const now = await listed();
    const changed = [...identities].filter(([name, identity]) => now.get(name) !== identity).length;
    const before = summary(steady);
    const over = summary(during);
    const report = {
      services: config.services,
      clients: config.clients,
      handOverMs: Math.round(answeredAt - reexecAt),
      steady: before,
      duringHandOver: over,
      afterHandOver: summary(after),
      p99Ratio: round(over.p99! / before.p99!, 1),
      p50Ratio: round(over.p50! / before.p50!, 1),
      failedRequests: failed.length,
      failures: [...new Set(failed.map((s) => String(s.status)))],
      servicesRestartedOrChanged: changed,
      loadavg: loadavg(),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    if (failed.length > 0 || changed > 0) process.exitCode = 1;
  } finally {
    keeper.kill('SIGTERM'); // a clean stop: every service stopped, then the keeper exits
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 120_000))]);
    if (keeper.exitCode === null && keeper.signalCode === null) progress(`the daemon (keeper ${keeper.pid}) did not stop within 120 s: left running`);
    fs.closeSync(log);
  }
}

await main();
