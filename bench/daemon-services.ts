// Supervisor benchmark (issue "Supervisor core"): N services of `sleep` under one
// Supervisor, against the same N children held by the bare process layer in the same run.
//   - memory: the daemon's RSS per service, and its ratio to a bare ChildProcess;
//   - idle CPU of the daemon with N services running;
//   - time to start and to stop all of them (stop = the whole tree gone, cgroups removed);
//   - log throughput: a child writing as fast as it can, captured to disk by the supervisor,
//     against the same child writing to /dev/null and to a file directly.
// Run: node dist/bench/daemon-services.js   (BENCH_SERVICES, BENCH_LOG_MIB to resize)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { raiseSoftLimitToHard, spawn, type ChildProcess } from '../native/index.js';
import { Supervisor } from '../daemon/supervisor.js';
import { mebibytes, median } from './lib/stats.js';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
const LOG_MIB = Number(process.env.BENCH_LOG_MIB ?? 256);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 5);
const WRITER = `yes 'pidvisor log throughput: a line of ordinary length, with a timestamp-like 2026-11-28T12:00:00Z' | head -c ${LOG_MIB * 2 ** 20}`;

const rss = (): number => Number(fs.readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096;
const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
};

async function bareChildren(): Promise<{ rssPerChild: number; startMs: number; stopMs: number }> {
  await settle();
  const before = rss();
  const t0 = performance.now();
  const children: ChildProcess[] = [];
  for (let i = 0; i < SERVICES; i++) children.push(spawn({ command: 'sleep', args: ['3600'], detach: 'session', stdio: ['null', 'pipe', 'pipe'] }));
  const startMs = performance.now() - t0;
  await settle();
  const rssPerChild = (rss() - before) / SERVICES;
  const t1 = performance.now();
  for (const child of children) child.signal('SIGTERM');
  await Promise.all(children.map((child) => child.wait()));
  for (const child of children) {
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
  return { rssPerChild, startMs, stopMs: performance.now() - t1 };
}

async function supervised(stateDir: string): Promise<{ rssPerService: number; startMs: number; stopMs: number; idleCpuPercent: number; killMode: string }> {
  const supervisor = new Supervisor({ stateDir, logger: pino({ level: 'silent' }), cgroupName: `pidvisor-bench-${process.pid}` });
  await settle();
  const before = rss();
  const t0 = performance.now();
  for (let i = 0; i < SERVICES; i++) await supervisor.launch({ name: `sleep-${i}`, command: ['sleep', '3600'], startGraceMs: 0 });
  const startMs = performance.now() - t0;
  await settle();
  const rssPerService = (rss() - before) / SERVICES;
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
  const cpu = process.cpuUsage(cpu0);
  const idleCpuPercent = ((cpu.user + cpu.system) / 1000 / (performance.now() - wall0)) * 100;
  const killMode = supervisor.system().defaultKillMode;
  const t1 = performance.now();
  await supervisor.shutdown();
  return { rssPerService, startMs, stopMs: performance.now() - t1, idleCpuPercent, killMode };
}

async function logThroughput(stateDir: string): Promise<{ capturedMiBs: number; devNullMiBs: number; fileMiBs: number }> {
  const timeShell = (redirect: string): number => {
    const t0 = performance.now();
    execFileSync('sh', ['-c', `${WRITER} ${redirect}`]);
    return performance.now() - t0;
  };
  const file = path.join(stateDir, 'direct.out');
  const samples = { captured: [] as number[], devNull: [] as number[], file: [] as number[] };
  for (let round = 0; round < 3; round++) {
    samples.devNull.push(timeShell('> /dev/null'));
    samples.file.push(timeShell(`> ${file}`));
    fs.rmSync(file, { force: true });
    const supervisor = new Supervisor({ stateDir, logger: pino({ level: 'silent' }), cgroupName: `pidvisor-bench-log-${process.pid}`, logLimits: { maxFileBytes: 64 * 2 ** 20, keepFiles: 2 } });
    const t0 = performance.now();
    const info = await supervisor.launch({ name: `writer-${round}`, command: ['sh', '-c', WRITER], startGraceMs: 0, restart: { policy: 'no' } });
    await supervisor.wait(info.id);
    const logs = supervisor.service(info.id).logs!;
    await logs.ended();
    await logs.flush();
    samples.captured.push(performance.now() - t0);
    const stats = logs.stats();
    if (stats.droppedBytes > 0) console.log(`  note: ${stats.droppedBytes} bytes dropped (${stats.lastError})`);
    await supervisor.shutdown();
  }
  const rate = (ms: number[]): number => LOG_MIB / (median(ms) / 1000);
  return { capturedMiBs: rate(samples.captured), devNullMiBs: rate(samples.devNull), fileMiBs: rate(samples.file) };
}

async function main(): Promise<void> {
  raiseSoftLimitToHard('nofile');
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-bench-'));
  try {
    console.log(`pidvisor supervisor bench: ${SERVICES} services of sleep, ${LOG_MIB} MiB of logs; ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(2)}`);
    const bare = await bareChildren();
    const sup = await supervised(stateDir);
    const logs = await logThroughput(stateDir);
    const rows: Array<[string, string, string]> = [
      ['RSS per service (supervised)', `${(sup.rssPerService / 1024).toFixed(1)} KiB`, `${(sup.rssPerService / bare.rssPerChild).toFixed(2)}x a bare ChildProcess (${(bare.rssPerChild / 1024).toFixed(1)} KiB)`],
      [`RSS for ${SERVICES} services`, `${mebibytes(sup.rssPerService * SERVICES).toFixed(1)} MiB`, ''],
      ['idle CPU with all running', `${sup.idleCpuPercent.toFixed(2)} %`, `over ${IDLE_SECONDS} s`],
      [`start all (${sup.killMode} mode)`, `${sup.startMs.toFixed(0)} ms`, `${(sup.startMs / bare.startMs).toFixed(2)}x bare spawns (${bare.startMs.toFixed(0)} ms)`],
      ['stop all, trees gone', `${sup.stopMs.toFixed(0)} ms`, `${(sup.stopMs / bare.stopMs).toFixed(2)}x bare SIGTERM+reap (${bare.stopMs.toFixed(0)} ms)`],
      ['log capture to disk', `${logs.capturedMiBs.toFixed(0)} MiB/s`, `${(logs.capturedMiBs / logs.devNullMiBs).toFixed(2)}x /dev/null (${logs.devNullMiBs.toFixed(0)} MiB/s), ${(logs.capturedMiBs / logs.fileMiBs).toFixed(2)}x a file (${logs.fileMiBs.toFixed(0)} MiB/s)`],
    ];
    const width = Math.max(...rows.map(([a]) => a.length));
    for (const [name, value, ratio] of rows) console.log(`  ${name.padEnd(width)}  ${value.padStart(10)}  ${ratio}`);
    fs.mkdirSync(path.join(path.dirname(new URL(import.meta.url).pathname), '../../bench/.out'), { recursive: true });
    fs.writeFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), '../../bench/.out/results-daemon.json'), JSON.stringify({ services: SERVICES, bare, supervised: sup, logs }, null, 2));
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
