// The launch-cost benchmark (issue 14, target 3): server CPU per launch + wait + delete of
// `true` over the API, against a bare fastify route that spawns `true` natively (bench/api's
// bare-server.ts), in the same run, and what each part of the daemon's work costs.
//
// Variants (each a load of N concurrent loops of one operation; server CPU / operations):
//   bare            POST /bare/run                               (the baseline)
//   bare-daemon-v8  the same server under the daemon's V8 settings (daemon/heap.ts: interpreter
//                   only, small young generation), as daemon-host.ts runs the daemon: like with like
//   api             POST /v1/processes, GET .../wait, DELETE      (three requests, as today's clients do)
//   one-request     POST /v1/processes?wait=exit&remove=true      (the same work in one request)
//   no-cgroup       api with killMode group: no cgroup made and removed per instance
//   no-logs         api with stdout/stderr null: no capture pipes, no log files
//   no-audit        api on a daemon that writes no audit trail
//   no-validation   api on a daemon whose request schemas accept anything (no ajv)
//   baseline        api on the daemon of another build (BENCH_LAUNCH_BASELINE=DIR, a checkout
//                   built with npm run build): before/after in one run
// no-cgroup .. no-validation take one cost out each, so `api - variant` is what that cost is;
// they are not configurations anyone should run. Rounds interleave every variant (the order rotates), so
// drift in the machine's load hits them alike; medians are shown.
// Run: npm run build, then npm run bench:launch (settings: BENCH_LAUNCH_*, bench/README.md).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startBare, type BareHandle } from '../api/bare-process.js';
import { firstLine, killAllStarted, startProcess, stopProcess, terminateAllStarted } from '../api/children.js';
import { startPidvisor, sweepAllCgroups } from '../api/daemon-process.js';
import { closeTarget, request, unixTarget, type Target } from '../api/http-client.js';
import { runLoad, type Operation } from '../api/load.js';
import { outDir as apiOutDir, repoRoot } from '../api/paths.js';
import { cpuSeconds, waitForSocket } from '../api/proc.js';
import { median } from '../api/stats.js';

const progress = (line: string): void => console.error(`[bench:launch] ${line}`);
const loadAverage = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const outDir = path.join(repoRoot, 'bench', '.out', 'launch');
const benchDir = path.dirname(fileURLToPath(import.meta.url));

function positive(name: string, fallback: number, allowZero = false): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) throw new Error(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, not ${JSON.stringify(raw)}`);
  return value;
}

const config = {
  rounds: Math.floor(positive('BENCH_LAUNCH_ROUNDS', 3)),
  seconds: positive('BENCH_LAUNCH_SECONDS', 4),
  warmupSeconds: positive('BENCH_LAUNCH_WARMUP_SECONDS', 1, true),
  /** Concurrent loops; at most 16 (the daemon refuses a 17th launch in flight). */
  connections: Math.min(16, Math.floor(positive('BENCH_LAUNCH_CONNECTIONS', 8))),
  maxOps: 200_000,
};

const VARIANTS = ['bare', 'bare-daemon-v8', 'baseline', 'api', 'one-request', 'no-cgroup', 'no-logs', 'no-audit', 'no-validation'] as const;
type Variant = (typeof VARIANTS)[number];

const TRUE_SPEC = { command: ['true'], restart: { policy: 'no' } };

interface Run {
  ok: number;
  perSecond: number;
  serverCpuUsPerOp: number;
  failures: Record<string, number>;
  loadAverage: number;
}

/** launch, wait, delete as three requests: 'ok' when each answered as it should. */
async function threeRequests(target: Target, spec: object): Promise<string> {
  const launched = await request(target, 'POST', '/v1/processes', spec);
  if (launched.status !== 201) return `launch: HTTP ${launched.status}`;
  const { id } = JSON.parse(launched.body.toString('utf8')) as { id: string };
  let outcome = 'ok';
  const waited = await request(target, 'GET', `/v1/processes/${id}/wait?timeoutMs=30000`);
  const exit = waited.status === 200 ? (JSON.parse(waited.body.toString('utf8')) as { exit: { code: number | null } | null }).exit : null;
  if (exit?.code !== 0) outcome = `wait: HTTP ${waited.status} ${waited.body.toString('utf8').slice(0, 80)}`;
  const removed = await request(target, 'DELETE', `/v1/processes/${id}`);
  if (removed.status !== 200 && outcome === 'ok') outcome = `delete: HTTP ${removed.status}`;
  return outcome;
}

/** The same operation as one request: launch, wait for the exit, remove; the answer has the exit. */
async function oneRequest(target: Target): Promise<string> {
  const reply = await request(target, 'POST', '/v1/processes?wait=exit&remove=true', TRUE_SPEC);
  if (reply.status !== 200) return `HTTP ${reply.status} ${reply.body.toString('utf8').slice(0, 80)}`;
  const body = JSON.parse(reply.body.toString('utf8')) as { state: string; exit: { code: number | null } | null };
  return body.state === 'removed' && body.exit?.code === 0 ? 'ok' : `answer ${JSON.stringify(body).slice(0, 80)}`;
}

async function barePost(target: Target): Promise<string> {
  const reply = await request(target, 'POST', '/bare/run', {});
  return reply.status === 200 ? 'ok' : `HTTP ${reply.status}`;
}

async function measure(serverPid: number, operation: Operation): Promise<Run> {
  const options = { connections: config.connections, seconds: config.seconds, warmupSeconds: 0, maxOps: config.maxOps };
  if (config.warmupSeconds > 0) await runLoad(operation, { ...options, seconds: config.warmupSeconds });
  const cpu0 = cpuSeconds(serverPid);
  const t0 = performance.now();
  const result = await runLoad(operation, options);
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(serverPid) - cpu0;
  return { ok: result.ok, perSecond: result.ok / wall, serverCpuUsPerOp: (cpu / Math.max(1, result.ok)) * 1e6, failures: result.failures, loadAverage: os.loadavg()[0]! };
}

async function main(): Promise<number> {
  fs.mkdirSync(outDir, { recursive: true });
  progress(`${os.release()}, node ${process.version}, ${os.availableParallelism()} CPUs, load average ${loadAverage()}; ${config.connections} loops, ${config.rounds} rounds of ${config.seconds} s`);
  const started: Array<{ stop(): Promise<unknown> }> = [];
  const targets: Target[] = [];
  try {
    const bare: BareHandle = await startBare();
    started.push(bare);
    const target = (socketPath: string): Target => {
      const t = unixTarget(socketPath, config.connections);
      targets.push(t);
      return t;
    };
    const bareTarget = target(bare.socketPath);
    const bareDaemonV8 = async (): Promise<{ pid: number; operation: Operation }> => {
      const server = await startBareUnderDaemonV8();
      started.push(server);
      const t = target(server.socketPath);
      return { pid: server.pid, operation: () => barePost(t) };
    };
    const baselineDir = process.env.BENCH_LAUNCH_BASELINE;
    const baselineEntry = baselineDir === undefined || baselineDir === '' ? null : path.resolve(baselineDir, 'dist', 'bench', 'api', 'daemon-host.js');
    if (baselineEntry !== null && !fs.existsSync(baselineEntry)) throw new Error(`BENCH_LAUNCH_BASELINE: ${baselineEntry} is missing (build that checkout first)`);
    // Each variant has a daemon of its own: one that idles while others run loses its warm
    // code and heap alike (V8 flushes bytecode and shrinks the heap of an idle process), so a
    // daemon shared by several variants measured cheaper than one used by a single variant.
    const daemonFor = async (variant: Variant, options: { hostArgs?: string[]; hostEntry?: string } = {}): Promise<{ pid: number; target: Target }> => {
      const daemon = await startPidvisor('unlimited', { tcp: false, label: `launch-${variant}`, ...options });
      started.push({ stop: () => daemon.stop(30_000) });
      return { pid: daemon.pid, target: target(daemon.socketPath) };
    };
    const plans: Record<Variant, () => Promise<{ pid: number; operation: Operation } | null>> = {
      bare: async () => ({ pid: bare.pid, operation: () => barePost(bareTarget) }),
      'bare-daemon-v8': bareDaemonV8,
      baseline: async () => {
        if (baselineEntry === null) return null;
        const d = await daemonFor('baseline', { hostEntry: baselineEntry });
        return { pid: d.pid, operation: () => threeRequests(d.target, TRUE_SPEC) };
      },
      api: async () => {
        const d = await daemonFor('api');
        return { pid: d.pid, operation: () => threeRequests(d.target, TRUE_SPEC) };
      },
      'one-request': async () => {
        const d = await daemonFor('one-request');
        return { pid: d.pid, operation: () => oneRequest(d.target) };
      },
      'no-cgroup': async () => {
        const d = await daemonFor('no-cgroup');
        return { pid: d.pid, operation: () => threeRequests(d.target, { ...TRUE_SPEC, killMode: 'group' }) };
      },
      'no-logs': async () => {
        const d = await daemonFor('no-logs');
        return { pid: d.pid, operation: () => threeRequests(d.target, { ...TRUE_SPEC, stdout: 'null', stderr: 'null' }) };
      },
      'no-audit': async () => {
        const d = await daemonFor('no-audit', { hostArgs: ['--without', 'audit'] });
        return { pid: d.pid, operation: () => threeRequests(d.target, TRUE_SPEC) };
      },
      'no-validation': async () => {
        const d = await daemonFor('no-validation', { hostArgs: ['--without', 'validation'] });
        return { pid: d.pid, operation: () => threeRequests(d.target, TRUE_SPEC) };
      },
    };
    const plan = {} as Record<Variant, { pid: number; operation: Operation } | null>;
    for (const variant of selectedVariants()) plan[variant] = await plans[variant]();
    const selected = selectedVariants().filter((variant) => plan[variant] !== null);
    const runs = Object.fromEntries(selected.map((v) => [v, [] as Run[]])) as Record<Variant, Run[]>;
    for (let round = 1; round <= config.rounds; round++) {
      // Rotate the order, so no variant always runs first (or last) in a round.
      const order = selected.map((_, i) => selected[(i + round - 1) % selected.length]!);
      for (const variant of order) {
        const { pid, operation } = plan[variant]!;
        const run = await measure(pid, operation);
        runs[variant].push(run);
        progress(
          `round ${round}/${config.rounds} ${variant.padEnd(13)} ${run.perSecond.toFixed(0).padStart(5)}/s  server ${run.serverCpuUsPerOp.toFixed(0).padStart(5)} µs/op  load ${run.loadAverage.toFixed(2)}` +
            (Object.keys(run.failures).length > 0 ? `  failures ${JSON.stringify(run.failures)}` : ''),
        );
      }
    }
    console.log(report(selected, runs));
    fs.writeFileSync(path.join(outDir, 'results.json'), `${JSON.stringify({ config, loadAverageEnd: os.loadavg(), runs }, null, 2)}\n`);
    const failed = selected.some((v) => runs[v].some((r) => Object.keys(r.failures).length > 0));
    return failed ? 1 : 0;
  } finally {
    for (const t of targets) closeTarget(t);
    for (const s of started.reverse()) await s.stop();
  }
}

/** bench/api's bare server under the daemon's V8 settings (bare-daemon-v8.ts), in its own process. */
async function startBareUnderDaemonV8(): Promise<{ pid: number; socketPath: string; stop(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvb-bare-v8-'));
  const socketPath = path.join(dir, 'bare.sock');
  fs.mkdirSync(apiOutDir, { recursive: true });
  const server = startProcess('bare fastify server (daemon V8 settings)', process.execPath, [path.join(benchDir, 'bare-daemon-v8.js'), socketPath], {
    logFile: path.join(apiOutDir, 'bare-server-daemon-v8.log'),
    pipeStdout: true,
  });
  const stop = async (): Promise<void> => {
    await stopProcess(server, 5000);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const line = await firstLine(server, 30_000);
    if (!/^ready \d+$/.test(line)) throw new Error(`bare server (daemon V8 settings) said ${JSON.stringify(line)}`);
    await waitForSocket(socketPath, 5000, () => server.deadReason());
    return { pid: server.pid, socketPath, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function selectedVariants(): Variant[] {
  const raw = process.env.BENCH_LAUNCH_ONLY;
  if (raw === undefined || raw === '' || raw === 'all') return [...VARIANTS];
  const values = raw.split(',').map((v) => v.trim());
  for (const v of values) if (!(VARIANTS as readonly string[]).includes(v)) throw new Error(`BENCH_LAUNCH_ONLY: unknown ${JSON.stringify(v)} (one of ${VARIANTS.join(', ')})`);
  if (!values.includes('bare')) values.unshift('bare'); // every ratio is to it
  return values as Variant[];
}

/**
 * Ratios are taken within each round (the variant against bare measured seconds apart) and
 * their median shown: on a loaded machine CPU per operation drifts between rounds far more
 * than between two runs of one round.
 */
function report(selected: readonly Variant[], runs: Record<Variant, Run[]>): string {
  const us = (variant: Variant): number => median(runs[variant].map((r) => r.serverCpuUsPerOp));
  const ratio = (variant: Variant, to: Variant): number => median(runs[variant].map((r, i) => r.serverCpuUsPerOp / runs[to][i]!.serverCpuUsPerOp));
  const lines = [`server CPU per launch + wait + delete of \`true\` (medians of ${config.rounds} rounds, ${config.connections} loops, unix socket)`, ''];
  const hasApi = runs.api !== undefined;
  const hasBareV8 = runs['bare-daemon-v8'] !== undefined;
  const bareKinds = new Set<Variant>(['bare', 'bare-daemon-v8']);
  lines.push(`| variant | ops/s | server µs/op | x bare |${hasBareV8 ? ' x bare-daemon-v8 |' : ''} x api | api - variant |`, `|---|---|---|---|${hasBareV8 ? '---|' : ''}---|---|`);
  for (const variant of selected) {
    const saved = !hasApi || bareKinds.has(variant) || variant === 'api' || variant === 'baseline' ? '' : `${(us('api') - us(variant)).toFixed(0)} µs`;
    const toApi = hasApi && !bareKinds.has(variant) ? ratio(variant, 'api').toFixed(2) : '';
    const toBareV8 = hasBareV8 ? ` ${variant === 'bare' ? '' : ratio(variant, 'bare-daemon-v8').toFixed(2)} |` : '';
    lines.push(`| ${variant} | ${median(runs[variant].map((r) => r.perSecond)).toFixed(0)} | ${us(variant).toFixed(0)} | ${ratio(variant, 'bare').toFixed(2)} |${toBareV8} ${toApi} | ${saved} |`);
  }
  const cheapest = (to: Variant): number => Math.min(...(['api', 'one-request'] as const).filter((v) => runs[v] !== undefined).map((v) => ratio(v, to)));
  if (hasApi || runs['one-request'] !== undefined) {
    const value = cheapest('bare');
    lines.push('', `target (issue 14.3): at most 2x bare: ${value <= 2 ? 'PASS' : 'MISS'} (${value.toFixed(2)}x, the cheaper way a client can do it)`);
    if (hasBareV8) lines.push(`like with like (the bare route under the daemon's V8 settings): ${cheapest('bare-daemon-v8').toFixed(2)}x`);
  }
  lines.push(`load average at the end: ${loadAverage()} on ${os.availableParallelism()} CPUs${os.loadavg()[0]! > os.availableParallelism() / 2 ? ' (other work competed: figures skewed, compare ratios only)' : ''}`);
  return lines.join('\n');
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: stopping everything this bench started`);
    void terminateAllStarted(10_000).then(() => {
      sweepAllCgroups();
      process.exit(130);
    });
  });
}
process.on('exit', () => killAllStarted());

process.exitCode = await main();
