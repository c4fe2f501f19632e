// Probe benchmark (issue 11): the daemon's CPU and event-loop delay while 1,000 services each
// have a tcp liveness probe every second, then while 100 more have an exec probe every
// second as well, beside the same daemon with the same services and no probes, in one run.
// Targets: at most 15% of one core for the 1,000 tcp probes; event-loop delay p99 at most 20 ms.
// Run: node --expose-gc dist/bench/probes/run.js   (BENCH_TCP, BENCH_EXEC, BENCH_SECONDS to resize)
//
// The supervisor runs in this process (as in bench/daemon-services.ts), so process.cpuUsage()
// is the daemon's CPU. Every tcp probe connects to one listener, itself a supervised service
// (a node process): its accept() cost is its own, not the daemon's.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import { raiseSoftLimitToHard } from '../../native/index.js';
import { Supervisor } from '../../daemon/supervisor.js';

const TCP = Number(process.env.BENCH_TCP ?? 1000);
const EXEC = Number(process.env.BENCH_EXEC ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

interface Phase {
  name: string;
  cpuPercent: number;
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  checks: number;
  failures: number;
  /** 1-minute load average at the end of the phase: other work on the machine. */
  load: number;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
};

async function phase(name: string, stateDir: string, port: number, probes: { tcp: boolean; exec: boolean }): Promise<Phase> {
  const supervisor = new Supervisor({ stateDir, logger: pino({ level: 'silent' }), cgroupName: `pidvisor-bench-probes-${process.pid}` });
  try {
    const listener = `require('net').createServer((s)=>s.end()).listen(${port},'127.0.0.1')`;
    await supervisor.launch({ name: 'listener', command: [process.execPath, '-e', listener], stdout: 'null', stderr: 'null', readiness: { kind: 'tcp', port, periodMs: 20 }, startGraceMs: 0 }, { waitReady: { timeoutMs: 30_000 } });
    const quiet = { stdout: 'null', stderr: 'null', startGraceMs: 0 } as const;
    // Spread over the period, as services started over time would be: initialDelayMs staggers them.
    const stagger = (i: number, n: number): number => Math.floor((i * 1000) / n);
    for (let i = 0; i < TCP; i++) {
      await supervisor.launch({
        name: `tcp-${i}`,
        command: ['sleep', '3600'],
        ...quiet,
        ...(probes.tcp ? { liveness: { kind: 'tcp', port, periodMs: 1000, timeoutMs: 1000, initialDelayMs: stagger(i, TCP) } } : {}),
      });
    }
    for (let i = 0; i < EXEC; i++) {
      await supervisor.launch({
        name: `exec-${i}`,
        command: ['sleep', '3600'],
        ...quiet,
        ...(probes.exec ? { liveness: { kind: 'exec', command: ['true'], periodMs: 1000, timeoutMs: 1000, initialDelayMs: stagger(i, EXEC) } } : {}),
      });
    }
    await settle();
    // One period to let every probe start, then measure.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const countChecks = (): { checks: number; failures: number } => {
      let checks = 0;
      let failures = 0;
      for (const info of supervisor.list()) {
        const live = info.probes.liveness;
        if (live === null) continue;
        checks += live.successes + live.failures;
        failures += live.failures;
      }
      return { checks, failures };
    };
    const before = countChecks();
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - wall0;
    delay.disable();
    const after = countChecks();
    return {
      name,
      cpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
      delayP50Ms: delay.percentile(50) / 1e6,
      delayP99Ms: delay.percentile(99) / 1e6,
      delayMaxMs: delay.max / 1e6,
      checks: after.checks - before.checks,
      failures: after.failures - before.failures,
      load: os.loadavg()[0]!,
    };
  } finally {
    await supervisor.shutdown();
  }
}

async function main(): Promise<void> {
  raiseSoftLimitToHard('nofile');
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-bench-probes-'));
  try {
    console.log(`pidvisor probe bench: ${TCP} services with a tcp probe and ${EXEC} with an exec probe, each every second; ${SECONDS} s per phase; ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(2)}`);
    const port = await freePort();
    const baseline = await phase('no probes', stateDir, port, { tcp: false, exec: false });
    const tcp = await phase(`${TCP} tcp probes`, stateDir, port, { tcp: true, exec: false });
    const both = await phase(`${TCP} tcp + ${EXEC} exec probes`, stateDir, port, { tcp: true, exec: true });
    const width = Math.max(...[baseline, tcp, both].map((p) => p.name.length));
    for (const p of [baseline, tcp, both]) {
      const perSecond = p.checks / SECONDS;
      console.log(
        `  ${p.name.padEnd(width)}  CPU ${p.cpuPercent.toFixed(1).padStart(5)} % of a core (${(p.cpuPercent - baseline.cpuPercent).toFixed(1)} above no probes)` +
          `  loop delay p50 ${p.delayP50Ms.toFixed(1)} p99 ${p.delayP99Ms.toFixed(1)} ms (max ${p.delayMaxMs.toFixed(1)}, p99 ${(p.delayP99Ms / baseline.delayP99Ms).toFixed(2)}x no probes)` +
          `  ${perSecond.toFixed(0)} checks/s, ${p.failures} failed  load ${p.load.toFixed(2)}`,
      );
    }
    const tcpCost = tcp.cpuPercent - baseline.cpuPercent;
    const worst = Math.max(tcp.delayP99Ms, both.delayP99Ms);
    // On a loaded machine the loop of a daemon doing nothing already waits for a CPU: the
    // ratio to the no-probe phase of the same run is what the probes themselves add.
    console.log(`  target: tcp probes <= 15% of a core: ${tcpCost.toFixed(1)}% (${tcpCost <= 15 ? 'met' : 'NOT met'}); loop delay p99 <= 20 ms: ${worst.toFixed(1)} ms (${worst <= 20 ? 'met' : 'NOT met'}; ${(worst / baseline.delayP99Ms).toFixed(2)}x the no-probe p99 of this run)`);
    const out = path.join(path.dirname(new URL(import.meta.url).pathname), '../../../bench/.out');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'results-probes.json'), JSON.stringify({ tcp: TCP, exec: EXEC, seconds: SECONDS, phases: [baseline, tcp, both] }, null, 2));
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
