// Scenario 1: request rate and p99 latency of the API against a bare fastify route, over the
// unix socket and over loopback TCP (bearer token), each server in its own process:
//   get:    GET /v1/processes/{id} (one `sleep` service)  vs  GET /bare
//   launch: POST /v1/processes {"command":["true"],"restart":{"policy":"no"}}, GET .../wait,
//           DELETE .../{id}, as one operation             vs  POST /bare/run (spawn `true`, reap, answer)
// The daemon here is daemon-host.ts (the rate limit off, else the limiter is what is measured);
// one short run against the stock daemon shows what the limit does to the same GET load.
// Rounds interleave bare and pidvisor runs, so drift in the machine's load hits both alike.
import { performance } from 'node:perf_hooks';
import { startBare } from './bare-process.js';
import type { ApiBenchConfig } from './config.js';
import { startPidvisor, type DaemonHandle } from './daemon-process.js';
import { closeTarget, request, requestJson, tcpTarget, unixTarget, type Target, type Transport } from './http-client.js';
import { runLoad, type LoadOptions, type LoadResult, type Operation } from './load.js';
import { getOnce, launchWaitDelete, SLEEP_SPEC, type ProcessInfo } from './pidvisor-api.js';
import { cpuSeconds } from './proc.js';
import { median } from './stats.js';

export type Workload = 'get' | 'launch';

export interface RpsRun extends LoadResult {
  /** CPU of the server process during the run, in % of one core. */
  serverCpuPercent: number;
  /** CPU of this (the load generator's) process, in % of one core. */
  clientCpuPercent: number;
  /**
   * Server CPU per successful operation, in µs. With 2 cores the load generator can be the
   * bottleneck (a node http client costs about what a node server does), so rates compare the
   * servers only when neither is saturated; CPU per operation compares them regardless.
   */
  serverCpuUsPerOp: number;
}

export interface RpsCell {
  workload: Workload;
  transport: Transport;
  pidvisor: RpsRun[];
  bare: RpsRun[];
  /** Medians over the rounds. */
  summary: {
    pidvisorPerSecond: number;
    barePerSecond: number;
    /** bare / pidvisor: how many times the bare server's rate is pidvisor's. */
    overhead: number;
    pidvisorP99Ms: number;
    bareP99Ms: number;
    pidvisorServerCpuPercent: number;
    pidvisorCpuUsPerOp: number;
    bareCpuUsPerOp: number;
    /** pidvisor's server CPU per operation / the bare server's. */
    cpuOverhead: number;
  };
}

export interface RpsResults {
  connections: number;
  launchConnections: number;
  cells: RpsCell[];
  /** The same GET load on the stock daemon (rate limit: burst 1000, 500/s per caller). */
  stockGet: RpsRun | null;
  daemonRssAfterBytes: number;
}

/** A load run (its warmup first, untimed), with the CPU the server and this process used during the timed part. */
async function measured(serverPid: number, operation: Operation, options: LoadOptions): Promise<RpsRun> {
  if (options.warmupSeconds > 0) await runLoad(operation, { ...options, seconds: options.warmupSeconds, warmupSeconds: 0 });
  const server0 = cpuSeconds(serverPid);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await runLoad(operation, { ...options, warmupSeconds: 0 });
  const wall = (performance.now() - t0) / 1000;
  const client = process.cpuUsage(client0);
  const serverCpu = cpuSeconds(serverPid) - server0;
  return {
    ...result,
    serverCpuPercent: (serverCpu / wall) * 100,
    clientCpuPercent: ((client.user + client.system) / 1e6 / wall) * 100,
    serverCpuUsPerOp: (serverCpu / Math.max(1, result.ok)) * 1e6,
  };
}

export async function measureRps(config: ApiBenchConfig, progress: (line: string) => void): Promise<RpsResults> {
  const bare = await startBare();
  let daemon: DaemonHandle;
  try {
    daemon = await startPidvisor('unlimited', { tcp: true, label: 'rps' });
  } catch (error) {
    await bare.stop();
    throw error;
  }
  const targets: Target[] = [];
  const target = (make: () => Target): Target => {
    const t = make();
    targets.push(t);
    return t;
  };
  try {
    if (daemon.tcp === null) throw new Error('the daemon did not report its TCP listener');
    const maxSockets = Math.max(config.connections, config.launchConnections);
    const pv: Record<Transport, Target> = {
      unix: target(() => unixTarget(daemon.socketPath, maxSockets)),
      tcp: target(() => tcpTarget(daemon.tcp!.host, daemon.tcp!.port, daemon.tcp!.token, maxSockets)),
    };
    const base: Record<Transport, Target> = {
      unix: target(() => unixTarget(bare.socketPath, maxSockets)),
      tcp: target(() => tcpTarget('127.0.0.1', bare.port, null, maxSockets)),
    };
    const info = await requestJson<ProcessInfo>(pv.unix, 'POST', '/v1/processes', { ...SLEEP_SPEC, name: 'bench-get' }, 201);
    const load = (connections: number) => ({ connections, seconds: config.seconds, warmupSeconds: config.warmupSeconds, maxOps: config.maxRequests });
    const cells: RpsCell[] = [];
    for (const workload of ['get', 'launch'] as const) {
      for (const transport of ['unix', 'tcp'] as const) {
        cells.push({ workload, transport, pidvisor: [], bare: [], summary: null as unknown as RpsCell['summary'] });
      }
    }
    for (let round = 1; round <= config.rounds; round++) {
      for (const cell of cells) {
        const { workload, transport } = cell;
        const connections = workload === 'get' ? config.connections : config.launchConnections;
        const bareOp = workload === 'get' ? () => getOnce(base[transport], '/bare') : () => barePost(base[transport]);
        const pvOp = workload === 'get' ? () => getOnce(pv[transport], `/v1/processes/${info.id}`) : () => launchWaitDelete(pv[transport]);
        // Alternate which goes first, so neither always runs on the warmer machine.
        const order = round % 2 === 1 ? (['bare', 'pidvisor'] as const) : (['pidvisor', 'bare'] as const);
        for (const who of order) {
          const run = await measured(who === 'bare' ? bare.pid : daemon.pid, who === 'bare' ? bareOp : pvOp, load(connections));
          cell[who].push(run);
          progress(
            `round ${round}/${config.rounds} ${workload.padEnd(6)} ${transport.padEnd(4)} ${who.padEnd(8)} ${run.perSecond.toFixed(0).padStart(6)}/s  ` +
              `p99 ${run.p99Ms.toFixed(2)} ms  server CPU ${run.serverCpuPercent.toFixed(0)}% (${run.serverCpuUsPerOp.toFixed(0)} µs/op)  client CPU ${run.clientCpuPercent.toFixed(0)}%` +
              (Object.keys(run.failures).length > 0 ? `  failures ${JSON.stringify(run.failures)}` : ''),
          );
        }
      }
    }
    for (const cell of cells) {
      const pvRate = median(cell.pidvisor.map((r) => r.perSecond));
      const bareRate = median(cell.bare.map((r) => r.perSecond));
      cell.summary = {
        pidvisorPerSecond: pvRate,
        barePerSecond: bareRate,
        overhead: bareRate / pvRate,
        pidvisorP99Ms: median(cell.pidvisor.map((r) => r.p99Ms)),
        bareP99Ms: median(cell.bare.map((r) => r.p99Ms)),
        pidvisorServerCpuPercent: median(cell.pidvisor.map((r) => r.serverCpuPercent)),
        pidvisorCpuUsPerOp: median(cell.pidvisor.map((r) => r.serverCpuUsPerOp)),
        bareCpuUsPerOp: median(cell.bare.map((r) => r.serverCpuUsPerOp)),
        cpuOverhead: 0,
      };
      cell.summary.cpuOverhead = cell.summary.pidvisorCpuUsPerOp / cell.summary.bareCpuUsPerOp;
    }
    const daemonRssAfterBytes = daemon.rss();
    const stockGet = await measureStockGet(config, progress);
    return { connections: config.connections, launchConnections: config.launchConnections, cells, stockGet, daemonRssAfterBytes };
  } finally {
    for (const t of targets) closeTarget(t);
    await daemon.stop(30_000);
    await bare.stop();
  }
}

async function barePost(target: Target): Promise<string> {
  const reply = await request(target, 'POST', '/bare/run', {});
  return reply.status === 200 ? 'ok' : `HTTP ${reply.status}`;
}

/** The GET load, shortly, on `pidvisor daemon` itself: what its default rate limit lets through. */
async function measureStockGet(config: ApiBenchConfig, progress: (line: string) => void): Promise<RpsRun> {
  const daemon = await startPidvisor('stock', { tcp: false, label: 'rps-stock' });
  const target = unixTarget(daemon.socketPath, config.connections);
  try {
    const info = await requestJson<ProcessInfo>(target, 'POST', '/v1/processes', { ...SLEEP_SPEC, name: 'bench-get' }, 201);
    // Idle long enough for the bucket to be full (burst 1000, refilled at 500/s), then no warmup: the burst is part of what a caller sees.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const run = await measured(daemon.pid, () => getOnce(target, `/v1/processes/${info.id}`), {
      connections: config.connections,
      seconds: Math.min(config.seconds, 3),
      warmupSeconds: 0,
      maxOps: config.maxRequests,
    });
    progress(`stock daemon get unix ${run.perSecond.toFixed(0)}/s ok, refused ${JSON.stringify(run.failures)}`);
    return run;
  } finally {
    closeTarget(target);
    await daemon.stop(30_000);
  }
}
