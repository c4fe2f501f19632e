// The load generator: N concurrent loops, each with one operation in flight at a time (on
// its own keep-alive connection), for a fixed time or a fixed count, whichever ends first.
// An operation is one request, or a sequence of them (launch, wait, delete); its latency
// is from its first byte sent to its last byte received.
import { performance } from 'node:perf_hooks';
import { percentile } from './stats.js';

export interface LoadOptions {
  /** Concurrent loops. */
  connections: number;
  seconds: number;
  /** Untimed load first, for the JIT and the connections. */
  warmupSeconds: number;
  /** Cap on operations in the timed run. */
  maxOps: number;
}

/** An operation: resolves with 'ok' when it did what it should, else with what happened instead (e.g. 'HTTP 429'). */
export type Operation = () => Promise<string>;

export interface LoadResult {
  /** Operations that answered 'ok'. */
  ok: number;
  /** Everything else, by outcome (thrown errors as 'error: <message>'). */
  failures: Record<string, number>;
  seconds: number;
  /** ok / seconds. */
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The count cap ended the run before its time. */
  capped: boolean;
}

export async function runLoad(operation: Operation, options: LoadOptions): Promise<LoadResult> {
  if (options.warmupSeconds > 0) await loop(operation, options.connections, options.warmupSeconds, options.maxOps, null);
  const latencies = new Float64Array(options.maxOps);
  return loop(operation, options.connections, options.seconds, options.maxOps, latencies);
}

async function loop(operation: Operation, connections: number, seconds: number, maxOps: number, latencies: Float64Array | null): Promise<LoadResult> {
  const failures: Record<string, number> = {};
  let started = 0;
  let ok = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (started < maxOps && performance.now() < deadline) {
      started++;
      const begin = performance.now();
      let outcome: string;
      try {
        outcome = await operation();
      } catch (error) {
        outcome = `error: ${(error as Error).message.slice(0, 120)}`;
      }
      if (outcome === 'ok') {
        if (latencies !== null) latencies[ok] = performance.now() - begin;
        ok++;
      } else {
        failures[outcome] = (failures[outcome] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  const recorded = latencies === null ? new Float64Array(0) : latencies.subarray(0, ok);
  return {
    ok,
    failures,
    seconds: elapsed,
    perSecond: ok / elapsed,
    p50Ms: percentile(recorded, 50),
    p99Ms: percentile(recorded, 99),
    maxMs: recorded.length === 0 ? Number.NaN : recorded.reduce((a, b) => Math.max(a, b), 0),
    capped: started >= maxOps,
  };
}
