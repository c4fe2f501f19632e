// Log-capture bench (issue 14 target 4): one writer (`yes LINE | head -c N`, lines of 97
// bytes) straight into a file, and captured to disk by pidvisor, supervisord and PM2, in
// interleaved rounds of one run. Targets: pidvisor >= 0.6x the direct file, >= 2x supervisord
// and >= 2x PM2 (throughput: the writer's bytes over the time from the start request to the
// last byte in the log file). The first round is a warm-up that checks every log file holds
// the writer's bytes exactly (pidvisor: the CRI records' contents; the peers: the raw bytes).
//   npm run build && npm run bench:logs
// Settings: BENCH_LOGS_MIB (256), BENCH_LOGS_ROUNDS (5, besides the warm-up), BENCH_LOGS_ONLY
// (comma list of scenario names), BENCH_LOGS_BEFORE (another build's dist/daemon/supervisor.js,
// measured as "pidvisor (before)" in the same run), BENCH_LOGS_VERIFY=0 (skip the check).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { favourSmallHeap, interpretJavaScriptOnly, keepYoungGenerationSmall } from '../../daemon/heap.js';
import { killAllStarted } from '../api/children.js';
import { median } from '../lib/stats.js';
import { entry, outDir } from './paths.js';
import { pidvisor } from './pidvisor.js';
import { direct, pm2, supervisord, type Scenario, type Writer } from './scenarios.js';

const MIB = Number(process.env.BENCH_LOGS_MIB ?? 256);
const ROUNDS = Number(process.env.BENCH_LOGS_ROUNDS ?? 5);
const ONLY = process.env.BENCH_LOGS_ONLY?.split(',').map((name) => name.trim());
const BEFORE = process.env.BENCH_LOGS_BEFORE;
const VERIFY = process.env.BENCH_LOGS_VERIFY !== '0';
const LINE = 'pidvisor log throughput: a line of ordinary length, with a timestamp-like 2026-11-28T12:00:00Z';

const loadavg = (): string => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main(): Promise<void> {
  // The daemon's V8 settings (api/cli/main.ts): its JS runs in the interpreter, with a small
  // young generation; pidvisor's capture is measured as the daemon runs it.
  keepYoungGenerationSmall();
  interpretJavaScriptOnly();
  favourSmallHeap();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvb-logs-'));
  fs.mkdirSync(outDir, { recursive: true });
  const writer: Writer = { script: path.join(dir, 'writer.sh'), bytes: MIB * 2 ** 20, sha256: null };
  fs.writeFileSync(writer.script, `yes '${LINE}' | head -c ${writer.bytes}\n`);
  const all: Scenario[] = [direct(), pidvisor('pidvisor', entry.supervisor), ...(BEFORE === undefined ? [] : [pidvisor('pidvisor (before)', BEFORE)]), supervisord(), pm2()];
  const scenarios = all.filter((s) => s.name === 'direct file' || ONLY === undefined || ONLY.includes(s.name));
  for (const s of scenarios) {
    const why = s.unavailable();
    if (why !== null) throw new Error(`${s.name}: ${why}`);
  }
  console.log(`log-capture bench: ${MIB} MiB of ${LINE.length + 1}-byte lines per round, ${ROUNDS} rounds + 1 warm-up; ${os.cpus().length} cores; loadavg ${loadavg()}`);
  const samples = new Map<string, number[]>(scenarios.map((s) => [s.name, []]));
  const cpuSamples = new Map<string, number[]>(scenarios.map((s) => [s.name, []]));
  const readSamples = new Map<string, number[]>(scenarios.map((s) => [s.name, []]));
  const loads: string[] = [];
  const lost = new Map<string, number[]>();
  try {
    for (const s of scenarios) await s.setup(dir, writer);
    for (let round = 0; round <= ROUNDS; round++) {
      // Direct first in the warm-up: it records the sha256 the others are checked against.
      const order = round === 0 ? scenarios : rotate(scenarios, round);
      const line: string[] = [];
      for (const s of order) {
        const { ms, exact, lostBytes, captureCpuMs, reads } = await s.round(round, VERIFY && round === 0);
        // A peer's loss is a finding to report; pidvisor's would be a bug.
        if (exact === false && s.name.startsWith('pidvisor')) throw new Error(`${s.name}: the log file does not hold the writer's bytes exactly`);
        if (lostBytes > 0) lost.set(s.name, [...(lost.get(s.name) ?? []), lostBytes]);
        if (round > 0) samples.get(s.name)!.push(ms);
        if (round > 0 && captureCpuMs !== null && Number.isFinite(captureCpuMs)) cpuSamples.get(s.name)!.push(captureCpuMs);
        if (round > 0 && reads !== undefined) readSamples.get(s.name)!.push(reads);
        line.push(`${s.name} ${ms.toFixed(0)} ms${reads === undefined ? '' : ` (${reads} reads)`}${exact === true ? ' (exact)' : exact === false ? ' (NOT exact)' : ''}${lostBytes > 0 ? ` (lost ${lostBytes} bytes)` : ''}`);
      }
      loads.push(loadavg());
      console.log(`  ${round === 0 ? 'warm-up' : `round ${round}`}: ${line.join(', ')}; loadavg ${loads.at(-1)}`);
    }
  } finally {
    for (const s of scenarios) await s.teardown().catch((error: unknown) => console.error(`${s.name} teardown: ${String(error)}`));
    killAllStarted();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const rate = (name: string): number => MIB / (median(samples.get(name)!) / 1000);
  // CPU per MiB of the capturing process: what capture costs, less skewed by the machine's load than the wall time.
  const cpuPerMiB = (name: string): string => (cpuSamples.get(name)!.length === 0 ? '-' : (median(cpuSamples.get(name)!) / MIB).toFixed(2));
  const readsPerMiB = (name: string): string => (readSamples.get(name)!.length === 0 ? '-' : (median(readSamples.get(name)!) / MIB).toFixed(1));
  console.log('\n  scenario            MiB/s   median ms   capturer CPU ms/MiB   reads/MiB');
  for (const s of scenarios) console.log(`  ${s.name.padEnd(18)} ${rate(s.name).toFixed(0).padStart(6)}   ${median(samples.get(s.name)!).toFixed(0).padStart(9)}   ${cpuPerMiB(s.name).padStart(8)}   ${readsPerMiB(s.name).padStart(18)}`);
  const results: Record<string, number> = {};
  const ratio = (a: string, b: string, target: number, higherIsBetter = true): void => {
    if (!samples.has(a) || !samples.has(b)) return;
    const value = rate(a) / rate(b);
    results[`${a} / ${b}`] = value;
    console.log(`  ${`${a} / ${b}`.padEnd(36)} ${value.toFixed(2)}x  target >= ${target}x: ${(higherIsBetter ? value >= target : value <= target) ? 'PASS' : 'MISS'}`);
  };
  console.log('');
  for (const who of ['pidvisor', 'pidvisor (before)']) {
    ratio(who, 'direct file', 0.6);
    ratio(who, 'supervisord', 2);
    ratio(who, 'pm2', 2);
  }
  for (const [name, bytes] of lost) console.log(`  ${name} lost the end of the output in ${bytes.length} of ${ROUNDS + 1} rounds (${bytes.join(', ')} bytes)`);
  console.log(`  loadavg at the end: ${loadavg()}`);
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify({ mib: MIB, rounds: ROUNDS, samplesMs: Object.fromEntries(samples), captureCpuMs: Object.fromEntries(cpuSamples), reads: Object.fromEntries(readSamples), lostBytes: Object.fromEntries(lost), ratios: results, loadavg: loads }, null, 2));
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

await main();
