// Every Node measurement runs in a fresh worker process (bench/worker.ts), so that no run
// sees another's leftovers: child_process installs libuv's SIGCHLD handler for the life of
// the process, a released GiB of Buffers may stay mapped, and 10,000 pidfds stay in the fd
// table until closed. The worker prints one `RESULT <json>` line on stdout; its progress
// goes to stderr, which it shares with the orchestrator.
import childProcess from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Implementation, RateSample } from './spawn-loops.js';
import type { LatencyImplementation } from './exit-latency.js';
import type { LiveChildrenResult } from './live-children.js';

export type WorkerRequest =
  | { kind: 'throughput'; impl: Implementation; width: number; ballast: boolean }
  | { kind: 'live' }
  | { kind: 'latency'; impl: LatencyImplementation; samples: number; stampFile: string };

/** One loop of one implementation at one width, then (if asked) the same loop with the ballast held. */
export interface ThroughputRound {
  impl: Implementation;
  /** Children in flight; 1 is sequential. */
  width: number;
  plain: RateSample;
  ballast: { mib: number; rssBeforeMiB: number; rssHeldMiB: number; sample: RateSample } | null;
}

export interface LatencyRound {
  impl: LatencyImplementation;
  latenciesNs: number[];
}

export type WorkerResult<R extends WorkerRequest> = R extends { kind: 'throughput' }
  ? ThroughputRound
  : R extends { kind: 'live' }
    ? LiveChildrenResult
    : LatencyRound;

const RESULT_PREFIX = 'RESULT ';
const workerScript = fileURLToPath(new URL('../worker.js', import.meta.url));

export interface WorkerOptions {
  timeoutSeconds: number;
  /** Run the worker with this RLIMIT_NOFILE (soft and hard), through prlimit(1). */
  nofile?: number;
  env?: NodeJS.ProcessEnv;
}

/** Starts a worker, waits for its result, and kills it (that process only) past the timeout. */
export function runWorker<R extends WorkerRequest>(request: R, options: WorkerOptions): Promise<WorkerResult<R>> {
  const node = [process.execPath, '--expose-gc', workerScript, JSON.stringify(request)];
  const argv = options.nofile === undefined ? node : ['prlimit', `--nofile=${options.nofile}:${options.nofile}`, '--', ...node];
  return new Promise((resolve, reject) => {
    const worker = childProcess.spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: options.env ?? process.env,
    });
    let stdout = '';
    worker.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const timer = setTimeout(() => worker.kill('SIGKILL'), options.timeoutSeconds * 1000);
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    worker.once('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code === 0 && line !== undefined) {
        resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as WorkerResult<R>);
        return;
      }
      const why = signal === 'SIGKILL' ? `killed after ${options.timeoutSeconds} s` : `code ${code} signal ${signal}`;
      reject(new Error(`bench worker ${JSON.stringify(request)} failed (${why})`));
    });
  });
}

/** The worker's side: print the result where runWorker looks for it. */
export function reply(result: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}
