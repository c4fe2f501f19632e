// Settings of the API benchmark, from BENCH_API_* environment variables (see bench/README.md).

export type Scenario = 'rps' | 'list' | 'peers';
/** pidvisor with one batch request each way, pidvisor with one request per program, and the peers. */
export type Peer = 'pidvisor' | 'pidvisor-each' | 'supervisord' | 'pm2';

export interface ApiBenchConfig {
  /** Rounds of the request-rate runs; each round interleaves bare fastify and pidvisor. Medians are shown. */
  rounds: number;
  /** Length of one timed request-rate run. */
  seconds: number;
  /** Untimed requests before each timed run, as seconds of load. */
  warmupSeconds: number;
  /** Cap on the requests of one timed run (a run that hits it ends early). */
  maxRequests: number;
  /** Keep-alive connections, each with one request at a time, for the GET runs. */
  connections: number;
  /** Concurrent launch+wait+delete loops (the daemon refuses more than 16 launches at once). */
  launchConnections: number;
  /** Services held for the list measurement; 0 skips it. */
  listServices: number;
  /** Timed GET /v1/processes with all of them. */
  listRepeats: number;
  /** Programs each peer starts and stops. */
  peerPrograms: number;
  /** Start+stop rounds per peer; medians are shown. */
  peerRounds: number;
  /** Concurrent POSTs when pidvisor starts many programs (its launch limit is 16). */
  launchConcurrency: number;
  /** Concurrent DELETEs when pidvisor stops many programs (no limit in the daemon but 256 connections). */
  stopConcurrency: number;
  /** Pause between starting and stopping (RSS is read then; the rate-limit bucket refills). */
  settleMs: number;
  /** Cap on one phase (start or stop of all programs, the launch of the list's services). */
  phaseTimeoutMs: number;
  only: ReadonlySet<Scenario>;
  peers: readonly Peer[];
}

function positive(name: string, fallback: number, { allowZero = false } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) throw new Error(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, not ${JSON.stringify(raw)}`);
  return value;
}

function list<T extends string>(name: string, allowed: readonly T[]): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '' || raw === 'all') return [...allowed];
  const values = raw.split(',').map((v) => v.trim()).filter(Boolean);
  for (const value of values) if (!(allowed as readonly string[]).includes(value)) throw new Error(`${name}: unknown ${JSON.stringify(value)} (one of ${allowed.join(', ')})`);
  return values as T[];
}

export function readConfig(): ApiBenchConfig {
  const launchConnections = Math.floor(positive('BENCH_API_LAUNCH_CONNECTIONS', 8));
  const launchConcurrency = Math.floor(positive('BENCH_API_LAUNCH_CONCURRENCY', 16));
  if (launchConnections > 16 || launchConcurrency > 16) {
    throw new Error('BENCH_API_LAUNCH_CONNECTIONS and BENCH_API_LAUNCH_CONCURRENCY are at most 16: the daemon refuses a 17th launch in flight with 503');
  }
  return {
    rounds: Math.floor(positive('BENCH_API_ROUNDS', 3)),
    seconds: positive('BENCH_API_SECONDS', 5),
    warmupSeconds: positive('BENCH_API_WARMUP_SECONDS', 1, { allowZero: true }),
    maxRequests: Math.floor(positive('BENCH_API_MAX_REQUESTS', 500_000)),
    connections: Math.floor(positive('BENCH_API_CONNECTIONS', 16)),
    launchConnections,
    listServices: Math.floor(positive('BENCH_API_LIST_SERVICES', 10_000, { allowZero: true })),
    listRepeats: Math.floor(positive('BENCH_API_LIST_REPEATS', 5)),
    peerPrograms: Math.floor(positive('BENCH_API_PEER_PROGRAMS', 200)),
    peerRounds: Math.floor(positive('BENCH_API_PEER_ROUNDS', 5)),
    launchConcurrency,
    stopConcurrency: Math.floor(positive('BENCH_API_STOP_CONCURRENCY', 16)),
    settleMs: positive('BENCH_API_SETTLE_MS', 3000, { allowZero: true }),
    phaseTimeoutMs: positive('BENCH_API_PHASE_SECONDS', 180) * 1000,
    only: new Set(list<Scenario>('BENCH_API_ONLY', ['rps', 'list', 'peers'])),
    peers: list<Peer>('BENCH_API_PEERS', ['pidvisor', 'pidvisor-each', 'supervisord', 'pm2']),
  };
}
