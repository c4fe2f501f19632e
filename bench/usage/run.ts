// What resource-usage sampling costs the daemon with many services (README: bench/usage).
// For each kill mode measured (cgroup: a cgroup's own files; group: one /proc scan per pass),
// BENCH_USAGE_SERVICES `sleep` services are started in this process's Supervisor (the daemon's
// class, with the API app around it, reached through inject(): the handler's cost, no socket):
//   pass:    one sampling pass over every service (all stale), CPU and wall time;
//   request: GET /v1/processes latency, cold (the request samples every service) and warm
//            (samples under a second old are served as they are: no sampling, as with it off);
//   idle:    the daemon's CPU while nobody asks, background sampling every 10 s vs off (0),
//            two Supervisors in turn over the same window length.
// Ratios are taken within one run; the load average at the start and end is printed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { buildApp } from '../../api/server/index.js';
import { Supervisor } from '../../daemon/supervisor.js';
import { DEFAULT_USAGE_INTERVAL_MS, FRESH_MS } from '../../daemon/usage-sampler.js';
import { median, percentile, round } from '../api/stats.js';

const SERVICES = Number(process.env.BENCH_USAGE_SERVICES ?? 1000);
const PASSES = Number(process.env.BENCH_USAGE_PASSES ?? 5);
const REQUESTS = Number(process.env.BENCH_USAGE_REQUESTS ?? 20);
const IDLE_MS = Number(process.env.BENCH_USAGE_IDLE_SECONDS ?? 30) * 1000;
const MODES = (process.env.BENCH_USAGE_MODES ?? 'cgroup,group').split(',') as Array<'cgroup' | 'group'>;
const BATCH = 1000;

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function withServices<T>(mode: string, intervalMs: number, body: (supervisor: Supervisor) => Promise<T>): Promise<T> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvb-usage-'));
  const supervisor = new Supervisor({ stateDir, logger: pino({ level: 'silent' }), cgroupName: `pvb-usage-${process.pid}-${mode}-${intervalMs}`, usageIntervalMs: intervalMs });
  try {
    for (let start = 0; start < SERVICES; start += BATCH) {
      const specs = Array.from({ length: Math.min(BATCH, SERVICES - start) }, (_, i) => ({ name: `s${start + i}`, command: ['sleep', '3600'], killMode: mode, stdout: 'null', stderr: 'null' }));
      await supervisor.launchMany(specs);
    }
    return await body(supervisor);
  } finally {
    await supervisor.shutdown();
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

interface ModeResult {
  mode: string;
  passCpuMs: number;
  passWallMs: number;
  coldP50Ms: number;
  coldP99Ms: number;
  warmP50Ms: number;
  warmP99Ms: number;
  idleOnCpuMs: number;
  idleOffCpuMs: number;
}

async function measureMode(mode: 'cgroup' | 'group'): Promise<ModeResult> {
  const { passCpu, passWall, cold, warm } = await withServices(mode, 0, async (supervisor) => {
    const app = buildApp(supervisor, { rateLimit: false });
    await app.ready();
    const passCpu: number[] = [];
    const passWall: number[] = [];
    for (let i = 0; i < PASSES; i++) {
      await sleep(FRESH_MS + 50);
      const cpu = process.cpuUsage();
      const start = performance.now();
      await supervisor.refreshUsage();
      passWall.push(performance.now() - start);
      passCpu.push(cpuMs(cpu));
    }
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      await sleep(FRESH_MS + 50);
      for (const list of [cold, warm]) {
        const start = performance.now();
        const response = await app.inject('/v1/processes');
        list.push(performance.now() - start);
        if (response.statusCode !== 200) throw new Error(`GET /v1/processes: ${response.statusCode}`);
      }
    }
    const sampled = (JSON.parse((await app.inject('/v1/processes')).body) as { processes: Array<{ usage: unknown }> }).processes.filter((p) => p.usage !== null).length;
    if (sampled !== SERVICES) throw new Error(`${sampled} of ${SERVICES} services had a usage sample`);
    await app.close();
    return { passCpu, passWall, cold, warm };
  });
  const idle = async (intervalMs: number): Promise<number> =>
    withServices(mode, intervalMs, async () => {
      await sleep(2000); // the launch's garbage collected, its timers settled
      const cpu = process.cpuUsage();
      await sleep(IDLE_MS);
      return cpuMs(cpu);
    });
  const idleOnCpuMs = await idle(DEFAULT_USAGE_INTERVAL_MS);
  const idleOffCpuMs = await idle(0);
  return {
    mode,
    passCpuMs: round(median(passCpu)),
    passWallMs: round(median(passWall)),
    coldP50Ms: round(median(cold)),
    coldP99Ms: round(percentile(cold, 99)),
    warmP50Ms: round(median(warm)),
    warmP99Ms: round(percentile(warm, 99)),
    idleOnCpuMs: round(idleOnCpuMs),
    idleOffCpuMs: round(idleOffCpuMs),
  };
}

const loadBefore = os.loadavg();
const results: ModeResult[] = [];
for (const mode of MODES) {
  results.push(await measureMode(mode));
  console.log(JSON.stringify(results.at(-1)));
}
const loadAfter = os.loadavg();
console.log(`\n${SERVICES} services, ${PASSES} passes, ${REQUESTS} requests each way, idle window ${IDLE_MS / 1000} s; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} -> ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
console.log('mode    pass cpu  pass wall  GET cold p50/p99  GET warm p50/p99  idle cpu on/off (per s)  cold/warm p50');
for (const r of results) {
  const perSecond = (ms: number): string => `${((ms / IDLE_MS) * 1000).toFixed(2)}`;
  console.log(
    `${r.mode.padEnd(7)} ${`${r.passCpuMs} ms`.padStart(9)} ${`${r.passWallMs} ms`.padStart(10)}  ${`${r.coldP50Ms}/${r.coldP99Ms} ms`.padStart(16)}  ${`${r.warmP50Ms}/${r.warmP99Ms} ms`.padStart(16)}  ${`${perSecond(r.idleOnCpuMs)}/${perSecond(r.idleOffCpuMs)} ms`.padStart(23)}  ${(r.coldP50Ms / r.warmP50Ms).toFixed(2)}`,
  );
}
const out = path.join(path.dirname(new URL(import.meta.url).pathname), '../../../bench/.out');
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'results-usage.json'), JSON.stringify({ services: SERVICES, loadBefore, loadAfter, results }, null, 2));
