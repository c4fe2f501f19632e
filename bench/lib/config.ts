// Counts, sizes and time caps of the benchmark, each overridable by an environment variable
// so a quick run (or a long, steadier one) needs no code change. Workers read the same
// variables: they inherit the orchestrator's environment.

export interface BenchConfig {
  /** Rounds of every throughput and latency measurement; the table shows medians. */
  rounds: number;
  /** Spawn-and-reap cycles timed per round (after `warmup` untimed ones). */
  spawns: number;
  warmup: number;
  /** Children kept running at once in the "in flight" mode. */
  inFlight: number;
  /** Off-heap Buffers held for the "with ballast" runs; 0 skips them. */
  ballastMiB: number;
  /** Timed spawns per round for child_process with the ballast: fork() makes each one slow. */
  ballastForkSpawns: number;
  /** Blocked children held (and watched) while spawning; 0 skips that scenario. */
  liveChildren: number;
  /** Exit-latency samples per implementation, split across the rounds. */
  latencySamples: number;
  latencyWarmup: number;
  /** How long each latency child sleeps before stamping and exiting, in microseconds. */
  latencyDelayUs: number;
  /** Wall-clock cap on any one timed loop, in seconds: a capped loop reports what it did. */
  loopSeconds: number;
  /** Wall-clock cap on one worker process, in seconds; it is killed past this. */
  workerSeconds: number;
  /** Which scenarios to run: throughput (with ballast), live, latency. */
  only: ReadonlySet<Scenario>;
}

export type Scenario = 'throughput' | 'live' | 'latency';
const SCENARIOS: readonly Scenario[] = ['throughput', 'live', 'latency'];

export function readConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const int = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < min) {
      throw new Error(`${name}=${JSON.stringify(raw)}: expected an integer >= ${min}`);
    }
    return value;
  };
  return {
    rounds: int('BENCH_ROUNDS', 5, 1),
    spawns: int('BENCH_SPAWNS', 1000, 1),
    warmup: int('BENCH_WARMUP', 200, 0),
    inFlight: int('BENCH_IN_FLIGHT', 64, 1),
    ballastMiB: int('BENCH_BALLAST_MIB', 1024, 0),
    ballastForkSpawns: int('BENCH_BALLAST_FORK_SPAWNS', 60, 1),
    liveChildren: int('BENCH_LIVE_CHILDREN', 10_000, 0),
    latencySamples: int('BENCH_LATENCY_SAMPLES', 1500, 1),
    latencyWarmup: int('BENCH_LATENCY_WARMUP', 30, 0),
    latencyDelayUs: int('BENCH_LATENCY_DELAY_US', 2000, 0),
    loopSeconds: int('BENCH_LOOP_SECONDS', 20, 1),
    workerSeconds: int('BENCH_WORKER_SECONDS', 300, 10),
    only: parseOnly(env.BENCH_ONLY),
  };
}

function parseOnly(raw: string | undefined): ReadonlySet<Scenario> {
  if (raw === undefined || raw.trim() === '') return new Set(SCENARIOS);
  const names = raw.split(',').map((name) => name.trim()).filter((name) => name !== '');
  for (const name of names) {
    if (!SCENARIOS.includes(name as Scenario)) {
      throw new Error(`BENCH_ONLY: unknown scenario ${JSON.stringify(name)} (known: ${SCENARIOS.join(', ')})`);
    }
  }
  return new Set(names as Scenario[]);
}
