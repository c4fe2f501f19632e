// Take-over time (issue 10): from the SIGKILL of the Node daemon under pidvisor-keeper to the API
// answering GET /v1/processes with every service re-adopted (running, with the pid and instance
// it had), for 200 and 1,000 `sleep` services launched through the API (output captured, the
// default), against the start of a fresh daemon with no services (from the exec of
// `pidvisor daemon` to its first answer to the same request) measured in the same run, between
// the kills, so that the machine's load drifts over both alike. Target: take-over <= 1.5x the
// fresh start. Also: the keeper's VmRSS holding 1,000 children (target <= 2 MiB), the VmRSS of the
// daemon that took them over, and, as a stricter baseline, a fresh start without the keeper
// (PIDVISOR_KEEPER=off: one Node boot, where `pidvisor daemon` under the keeper boots Node twice:
// the CLI, which execs the keeper, and the daemon).
//
// Each kill waits until the daemon has been ready for longer than the keeper's backoff reset
// (10 s), so every take-over starts after the keeper's first restart delay (20 ms), as after a
// single crash. BENCH_TAKEOVER_CPU_PROF=DIR writes a V8 CPU profile of each daemon that exits
// cleanly (the taken-over one, at the end of each size) into DIR.
//
// Run: npm run build, then npm run bench:takeover. Knobs: BENCH_TAKEOVER_SIZES (200,1000),
// BENCH_TAKEOVER_KILLS (3 per size; one fresh start of each kind before each), BENCH_TAKEOVER_OUT.
import { spawn as spawnWithLibuv, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { adopt } from '../../native/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const PIDVISOR_BIN = path.join(root, 'dist/bin/pidvisor.js');

const list = (name: string, fallback: string): number[] => (process.env[name] ?? fallback).split(',').map(Number);
const int = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
};
const config = {
  sizes: list('BENCH_TAKEOVER_SIZES', '200,1000'),
  kills: int('BENCH_TAKEOVER_KILLS', 3),
  cpuProfDir: process.env.BENCH_TAKEOVER_CPU_PROF ?? null,
  out: process.env.BENCH_TAKEOVER_OUT ?? path.join(root, 'bench/.out/takeover.json'),
};
const TARGET_RATIO = 1.5;
const TARGET_KEEPER_RSS_KIB = 2048;
// The keeper starts its backoff over once a daemon has been ready this long (native/keeper/keeper.c).
const KEEPER_BACKOFF_RESET_MS = 10_000;
const POLL_MS = 2;
const BATCH = 250;

const progress = (line: string): void => void process.stderr.write(`[takeover] ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const loadavg = (): string => fs.readFileSync('/proc/loadavg', 'utf8').trim();

interface Info {
  id: string;
  name: string | null;
  state: string;
  pid: number | null;
  instance: string | null;
}

/** One request on a fresh connection; the body parsed as JSON. */
function requestJson<T>(socketPath: string, method: string, url: string, body?: unknown, timeoutMs = 120_000): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ socketPath, method, path: url, agent: false, timeout: timeoutMs, headers: payload === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as T });
        } catch (error) {
          reject(error as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Polls GET /v1/processes until `done` accepts an answer; the time it was received (ms, performance.now). */
async function firstAnswer(socket: string, done: (processes: Info[]) => boolean, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const { status, body } = await requestJson<{ processes: Info[] }>(socket, 'GET', '/v1/processes', undefined, timeoutMs);
      const at = performance.now();
      if (status === 200 && done(body.processes)) return at;
    } catch {
      // not listening yet (ENOENT, ECONNREFUSED), or a connection the dead daemon had accepted
    }
    if (performance.now() > deadline) throw new Error(`no satisfying answer within ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}

interface Daemon {
  child: ChildProcess;
  socket: string;
  exited: Promise<unknown>;
  logs: Array<Record<string, unknown>>;
}

function startDaemon(dir: string, env: Record<string, string>): Daemon {
  const socket = path.join(dir, 'api.sock');
  // Node options of the CLI reach the daemon the keeper starts (daemon/keeper.ts); NODE_OPTIONS may not carry --cpu-prof.
  const nodeArgs = config.cpuProfDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${config.cpuProfDir}`];
  const child = spawnWithLibuv(process.execPath, [...nodeArgs, PIDVISOR_BIN, 'daemon', '--socket', socket, '--state-dir', path.join(dir, 'state')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  const logs: Array<Record<string, unknown>> = [];
  let pending = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
    }
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { child, socket, exited, logs };
}

async function stopDaemon(daemon: Daemon, timeoutMs: number): Promise<void> {
  if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) return;
  daemon.child.kill('SIGTERM');
  const stopped = await Promise.race([daemon.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
  if (!stopped) throw new Error(`the daemon (pid ${daemon.child.pid}) did not stop within ${timeoutMs} ms`);
}

/** The Node daemon under the keeper: the keeper's child that runs pidvisor.js. */
function nodeDaemonOf(keeper: number): number {
  for (const child of fs.readFileSync(`/proc/${keeper}/task/${keeper}/children`, 'utf8').trim().split(' ').filter(Boolean)) {
    try {
      if (fs.readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').includes(PIDVISOR_BIN)) return Number(child);
    } catch {
      // gone meanwhile
    }
  }
  return 0;
}

function vmRssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** CPU time (user + system) a process has used so far, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  // Fields after the command name (which may hold spaces), from the state on: utime and stime are the 12th and 13th.
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

function childCount(pid: number): number {
  return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).length;
}

/**
 * Start to first answer of a daemon with no services, on an empty state dir; and the CPU time
 * the Node daemon had used by then (under the keeper, the daemon's alone, not the CLI's).
 */
async function freshStart(keeper: boolean): Promise<{ ms: number; cpuMs: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-bench-fresh-'));
  const startedAt = performance.now();
  const daemon = startDaemon(dir, keeper ? {} : { PIDVISOR_KEEPER: 'off' });
  try {
    const ms = (await firstAnswer(daemon.socket, () => true, 60_000)) - startedAt;
    return { ms, cpuMs: cpuMs(keeper ? nodeDaemonOf(daemon.child.pid!) : daemon.child.pid!) };
  } finally {
    await stopDaemon(daemon, 30_000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

interface SizeResult {
  services: number;
  takeOverMs: number[];
  /** CPU time the new Node daemon had used at its answer (boot, take-over, first answer). */
  takeOverCpuMs: number[];
  freshMs: number[];
  freshCpuMs: number[];
  freshNoKeeperMs: number[];
  keeperRssKiB: number;
  keeperChildren: number;
  /** VmRSS of the Node daemon that took over last, once it has answered. */
  daemonRssKiB: number;
  keeperRestartDelayMs: number[];
  /** Per take-over: ms after the kill at which each phase's log record was written, and the answer. */
  phases: Array<Record<string, number>>;
}

// The log records that mark the phases of a take-over, by the name the report gives them.
const PHASES: Record<string, string> = {
  keeperRestarts: 'the daemon died; restarting it',
  daemonStarting: 'daemon starting',
  inventoryReceived: 'keeper inventory received',
  tookOver: 'took over from the previous daemon',
  apiListening: 'api listening',
};

async function measureSize(services: number): Promise<SizeResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pidvisor-bench-takeover-${services}-`));
  const daemon = startDaemon(dir, {});
  const keeper = daemon.child.pid!;
  const instances = new Map<string, { pid: number; instance: string }>();
  const result: SizeResult = { services, takeOverMs: [], takeOverCpuMs: [], freshMs: [], freshCpuMs: [], freshNoKeeperMs: [], keeperRssKiB: 0, keeperChildren: 0, daemonRssKiB: 0, keeperRestartDelayMs: [], phases: [] };
  try {
    await firstAnswer(daemon.socket, () => true, 60_000);
    progress(`${services}: launching (load ${loadavg()})`);
    for (let from = 0; from < services; from += BATCH) {
      const processes = [];
      for (let i = from; i < Math.min(services, from + BATCH); i++) processes.push({ name: `sleep-${i}`, command: ['sleep', '100000'], startGraceMs: 0 });
      const { status, body } = await requestJson<{ processes: Info[] }>(daemon.socket, 'POST', '/v1/processes/batch', { processes });
      if (status !== 201) throw new Error(`batch launch: ${status} ${JSON.stringify(body)}`);
      for (const p of body.processes) instances.set(p.id, { pid: p.pid!, instance: p.instance! });
    }
    const allAdopted = (processes: Info[]): boolean =>
      processes.length === services && processes.every((p) => p.state === 'running' && instances.get(p.id)?.pid === p.pid && instances.get(p.id)?.instance === p.instance);
    await firstAnswer(daemon.socket, allAdopted, 120_000);
    let readySince = performance.now();
    for (let kill = 0; kill < config.kills; kill++) {
      // The fresh starts, in the wait for the keeper's backoff reset: interleaved with the kills.
      const fresh = await freshStart(true);
      result.freshMs.push(fresh.ms);
      result.freshCpuMs.push(fresh.cpuMs);
      result.freshNoKeeperMs.push((await freshStart(false)).ms);
      const wait = readySince + KEEPER_BACKOFF_RESET_MS + 500 - performance.now();
      if (wait > 0) await sleep(wait);
      const node = nodeDaemonOf(keeper);
      if (node === 0) throw new Error('no Node daemon under the keeper');
      const logsBefore = daemon.logs.length;
      const killedAtWall = Date.now();
      const killedAt = performance.now();
      process.kill(node, 'SIGKILL');
      const answeredAt = await firstAnswer(daemon.socket, allAdopted, 120_000);
      readySince = answeredAt;
      result.takeOverMs.push(answeredAt - killedAt);
      result.takeOverCpuMs.push(cpuMs(nodeDaemonOf(keeper)));
      // Logs are written in blocks at most 100 ms apart: wait for the last phase's.
      await sleep(300);
      const logs = daemon.logs.slice(logsBefore);
      const restart = logs.find((r) => r.msg === PHASES.keeperRestarts);
      if (typeof restart?.delayMs === 'number') result.keeperRestartDelayMs.push(restart.delayMs);
      const phases: Record<string, number> = {};
      for (const [phase, msg] of Object.entries(PHASES)) {
        const time = logs.find((r) => r.msg === msg)?.time;
        if (typeof time === 'number') phases[phase] = time - killedAtWall;
      }
      phases.answered = Math.round(answeredAt - killedAt);
      // To cut the daemon's CPU profile at the answer: its samples are stamped with the same clock.
      if (config.cpuProfDir !== null) phases.answeredMonotonicUs = Number(process.hrtime.bigint() / 1000n) - Math.round((performance.now() - answeredAt) * 1000);
      const tookOver = logs.find((r) => r.msg === PHASES.tookOver)?.durationMs;
      if (typeof tookOver === 'number') phases.takeOverCallMs = tookOver;
      result.phases.push(phases);
      progress(`${services}: take-over ${(answeredAt - killedAt).toFixed(0)} ms (load ${loadavg()})`);
    }
    result.keeperRssKiB = vmRssKiB(keeper);
    result.daemonRssKiB = vmRssKiB(nodeDaemonOf(keeper));
    result.keeperChildren = childCount(keeper) - 1; // less the daemon
    return result;
  } finally {
    progress(`${services}: stopping`);
    try {
      await stopDaemon(daemon, 180_000);
    } catch (error) {
      // Only what this bench started, through pidfds checked against the instance.
      progress(`${(error as Error).message}: killing its services one by one`);
      for (const { pid, instance } of instances.values()) {
        try {
          const ref = adopt(pid, instance, { watch: false });
          ref.signal('SIGKILL');
          ref.close();
        } catch {
          // gone
        }
      }
      const node = nodeDaemonOf(keeper);
      if (node !== 0) process.kill(node, 'SIGKILL');
      daemon.child.kill('SIGKILL');
      await daemon.exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const loadBefore = loadavg();
progress(`sizes ${config.sizes.join(', ')}, ${config.kills} kills each (load ${loadBefore})`);
const sizes: SizeResult[] = [];
for (const services of config.sizes) sizes.push(await measureSize(services));
const loadAfter = loadavg();

const fresh = median(sizes.flatMap((s) => s.freshMs));
const freshNoKeeper = median(sizes.flatMap((s) => s.freshNoKeeperMs));
const summary = {
  loadavg: { before: loadBefore, after: loadAfter },
  cpus: os.cpus().length,
  freshStartMs: { median: fresh, samples: sizes.flatMap((s) => s.freshMs) },
  freshStartNoKeeperMs: { median: freshNoKeeper, samples: sizes.flatMap((s) => s.freshNoKeeperMs) },
  sizes: sizes.map((s) => {
    const takeOver = median(s.takeOverMs);
    return {
      services: s.services,
      takeOverMs: { median: takeOver, samples: s.takeOverMs },
      // Against the fresh starts measured between this size's kills, and against all of them.
      ratioToFresh: takeOver / median(s.freshMs),
      ratioToFreshAll: takeOver / fresh,
      ratioToFreshNoKeeper: takeOver / median(s.freshNoKeeperMs),
      // Less sensitive to the machine's load than the times: the daemon's CPU up to its answer.
      takeOverCpuMs: { median: median(s.takeOverCpuMs), samples: s.takeOverCpuMs },
      freshCpuMs: { median: median(s.freshCpuMs), samples: s.freshCpuMs },
      cpuRatio: median(s.takeOverCpuMs) / median(s.freshCpuMs),
      target: `<= ${TARGET_RATIO}x`,
      met: takeOver / median(s.freshMs) <= TARGET_RATIO,
      keeperRestartDelayMs: s.keeperRestartDelayMs,
      phasesMsAfterKill: s.phases,
      keeperRssKiB: s.keeperRssKiB,
      keeperChildren: s.keeperChildren,
      daemonRssKiB: s.daemonRssKiB,
    };
  }),
  keeperRss: (() => {
    const largest = sizes.reduce((a, b) => (b.services > a.services ? b : a));
    return { services: largest.services, children: largest.keeperChildren, vmRssKiB: largest.keeperRssKiB, targetKiB: TARGET_KEEPER_RSS_KIB, met: largest.keeperRssKiB <= TARGET_KEEPER_RSS_KIB };
  })(),
};
fs.mkdirSync(path.dirname(config.out), { recursive: true });
fs.writeFileSync(config.out, `${JSON.stringify(summary, null, 2)}\n`);

const ms = (value: number): string => `${value.toFixed(0)} ms`;
const lines = [
  `loadavg before: ${loadBefore}; after: ${loadAfter} (${summary.cpus} CPUs)`,
  `fresh start, no services (pidvisor daemon -> first answer): median ${ms(fresh)} [${summary.freshStartMs.samples.map(ms).join(', ')}]`,
  `fresh start without the keeper (PIDVISOR_KEEPER=off):        median ${ms(freshNoKeeper)} [${summary.freshStartNoKeeperMs.samples.map(ms).join(', ')}]`,
  ...summary.sizes.map(
    (s) =>
      `take-over of ${s.services} services (SIGKILL -> all re-adopted): median ${ms(s.takeOverMs.median)} [${s.takeOverMs.samples.map(ms).join(', ')}]; ` +
      `${s.ratioToFresh.toFixed(2)}x the fresh start (target ${s.target}: ${s.met ? 'met' : 'NOT met'}); ${s.ratioToFreshNoKeeper.toFixed(2)}x without the keeper; keeper restart delay ${s.keeperRestartDelayMs.join('/')} ms; ` +
      `daemon CPU to the answer ${ms(s.takeOverCpuMs.median)} vs ${ms(s.freshCpuMs.median)} fresh (${s.cpuRatio.toFixed(2)}x); daemon VmRSS after ${s.daemonRssKiB} KiB`,
  ),
  ...summary.sizes.flatMap((s) => s.phasesMsAfterKill.map((p) => `  ${s.services}: ms after the kill: ${Object.entries(p).map(([k, v]) => `${k} ${v}`).join(', ')}`)),
  `keeper VmRSS with ${summary.keeperRss.children} children: ${summary.keeperRss.vmRssKiB} KiB (target <= ${TARGET_KEEPER_RSS_KIB} KiB: ${summary.keeperRss.met ? 'met' : 'NOT met'})`,
  `written: ${path.relative(process.cwd(), config.out)}`,
];
process.stdout.write(`${lines.join('\n')}\n`);
