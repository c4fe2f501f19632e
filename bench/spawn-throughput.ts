// The spawn benchmark: pidvisor's native spawn against C posix_spawn and Node's
// child_process, for spawn-and-reap throughput (sequential, N in flight, with 1 GiB of
// Buffers held, with 10,000 live children watched) and for exit-detection latency.
// Prints a table and the target ratios, and writes bench/.out/results-native.json.
// A benchmark, not a test: `npm run bench` after `npm run build`. Counts: lib/config.ts.
//
// This process only orchestrates: it builds the C programs, runs them, and runs every Node
// measurement in a fresh worker process (worker.ts). Rounds interleave the implementations
// (C, pidvisor, child_process at one width, then the next width), so the figures compared
// are measured seconds apart and drift in the machine's load hits all of them alike.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildCPrograms, epollPidfdLatencies, posixSpawnRate } from './lib/c-programs.js';
import { readConfig, type BenchConfig } from './lib/config.js';
import { outDir } from './lib/paths.js';
import { formatReport, summarize, writeJson, type BenchResults } from './lib/report.js';
import type { RateSample } from './lib/spawn-loops.js';
import { runWorker, type ThroughputRound } from './lib/worker-protocol.js';

// Fds the live-children worker needs besides one pidfd per child: stdio, epoll, libuv's
// own, /dev/null, the addon.
const FD_HEADROOM = 256;

async function main(): Promise<void> {
  const config = readConfig();
  const loadAtStart = os.loadavg()[0]!;
  fs.mkdirSync(outDir, { recursive: true });
  progress('compiling the C programs into bench/.out/');
  buildCPrograms();
  progress(
    `${os.release()}, node ${process.version}, ${os.availableParallelism()} CPUs, ` +
      `load average ${loadAverage()}; ${config.rounds} rounds of ${config.spawns} spawns, medians`,
  );
  const results: BenchResults = {
    throughput: config.only.has('throughput') ? await measureThroughput(config) : null,
    live: config.only.has('live') && config.liveChildren > 0 ? await measureLiveChildren(config) : null,
    latency: config.only.has('latency') ? await measureLatency(config) : null,
  };
  // Other work on the machine skews every figure: the load average says whether there was any.
  progress(`load average at the end: ${loadAverage()}`);
  const summary = summarize(config, results);
  console.log(`\n${formatReport(config, results, summary)}`);
  if (loadAtStart > os.availableParallelism() / 2) {
    console.log(
      `\nWARNING: the load average was ${loadAtStart.toFixed(2)} on ${os.availableParallelism()} CPUs before the bench ` +
        'started: other work competed for the CPUs and the ratios above are unreliable.',
    );
  }
  const file = path.join(outDir, 'results-native.json');
  writeJson(file, config, results, summary);
  console.log(`\nresults: ${path.relative(process.cwd(), file)}`);
}

async function measureThroughput(config: BenchConfig): Promise<NonNullable<BenchResults['throughput']>> {
  const c = { sequential: [] as RateSample[], inFlight: [] as RateSample[] };
  const rounds: ThroughputRound[] = [];
  const ballast = config.ballastMiB > 0;
  for (let round = 1; round <= config.rounds; round++) {
    for (const width of [1, config.inFlight]) {
      const mode = width === 1 ? 'sequential' : `${width} in flight`;
      progress(`throughput round ${round}/${config.rounds}, ${mode}: C, pidvisor, child_process${ballast ? ' (+ ballast)' : ''}`);
      (width === 1 ? c.sequential : c.inFlight).push(posixSpawnRate(width, config.spawns, config.warmup, config.loopSeconds));
      for (const impl of ['pidvisor', 'child_process'] as const) {
        rounds.push(await runWorker({ kind: 'throughput', impl, width, ballast }, { timeoutSeconds: config.workerSeconds }));
      }
    }
  }
  return { c, rounds };
}

async function measureLiveChildren(config: BenchConfig): Promise<NonNullable<BenchResults['live']>> {
  // Node cannot call setrlimit: the worker starts under prlimit(1) with the soft
  // RLIMIT_NOFILE raised to the hard one (never above it).
  const hard = hardNofileLimit();
  let children = config.liveChildren;
  if (children + FD_HEADROOM > hard) {
    children = Math.max(0, hard - FD_HEADROOM);
    progress(`RLIMIT_NOFILE hard limit is ${hard}: holding ${children} live children instead of ${config.liveChildren}`);
  }
  progress(`live children: baseline, then ${children.toLocaleString('en-US')} watched, then SIGKILL to all`);
  return runWorker(
    { kind: 'live' },
    {
      timeoutSeconds: config.workerSeconds,
      nofile: hard,
      env: { ...process.env, BENCH_LIVE_CHILDREN: String(children) },
    },
  );
}

async function measureLatency(config: BenchConfig): Promise<NonNullable<BenchResults['latency']>> {
  const perRound = Math.ceil(config.latencySamples / config.rounds);
  const stampFile = path.join(outDir, 'exit-stamps.bin');
  const latency = { c: [] as number[], pidvisor: [] as number[], pidvisorCallback: [] as number[], childProcess: [] as number[] };
  const samplesOf = { pidvisor: latency.pidvisor, 'pidvisor-callback': latency.pidvisorCallback, child_process: latency.childProcess };
  for (let round = 1; round <= config.rounds; round++) {
    progress(`exit latency round ${round}/${config.rounds}: ${perRound} samples each`);
    latency.c.push(
      ...epollPidfdLatencies(perRound, config.latencyWarmup, config.latencyDelayUs, config.loopSeconds, stampFile),
    );
    for (const impl of ['pidvisor', 'pidvisor-callback', 'child_process'] as const) {
      const { latenciesNs } = await runWorker(
        { kind: 'latency', impl, samples: perRound, stampFile },
        { timeoutSeconds: config.workerSeconds },
      );
      samplesOf[impl].push(...latenciesNs);
    }
  }
  fs.rmSync(stampFile, { force: true });
  return latency;
}

function hardNofileLimit(): number {
  const limits = fs.readFileSync('/proc/self/limits', 'utf8');
  const match = /^Max open files\s+\S+\s+(\S+)/m.exec(limits);
  const hard = match?.[1] === undefined ? Number.NaN : Number(match[1]);
  if (!Number.isSafeInteger(hard)) throw new Error(`cannot read the RLIMIT_NOFILE hard limit from /proc/self/limits`);
  return hard;
}

function loadAverage(): string {
  return os.loadavg().map((load) => load.toFixed(2)).join(' ');
}

const started = performance.now();

function progress(message: string): void {
  const elapsed = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench ${elapsed} s] ${message}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
