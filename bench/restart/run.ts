// Restart latency (issue 14, target 1): how long a crashed service stays down. pidvisor, runit,
// s6, supervisord and PM2 each supervise the same static program (stamp.c); in every round the
// bench SIGKILLs each tool's running instance in turn, once it has been up BENCH_RESTART_UPTIME_MS
// (above every tool's minimum uptime), and measures from the kill to the new instance's first
// instruction (its own CLOCK_MONOTONIC stamp; Node's hrtime is the same clock). Rounds interleave
// the tools, so the machine's load drifts over all of them alike.
// Run: npm run build, then node dist/bench/restart/run.js (npm run bench:restart).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openProcess } from '../../native/index.js';
import { pm2Available, PM2_VERSION } from '../api/peer-pm2.js';
import { peersDir, repoRoot } from '../api/paths.js';
import { processState } from '../api/proc.js';
import { percentile } from '../api/stats.js';
import { outDir, stampProgram, stampSource } from './paths.js';
import { BASELINE_TOOL, baselineBin, BINARIES, setUp, TOOLS, type Supervised, type Tool } from './supervisors.js';

const int = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer`);
  return value;
};
const baseline = process.env.BENCH_RESTART_BASELINE ?? null;
const config = {
  baseline,
  rounds: int('BENCH_RESTART_ROUNDS', 100),
  warmup: int('BENCH_RESTART_WARMUP', 3),
  uptimeMs: int('BENCH_RESTART_UPTIME_MS', 1200),
  timeoutMs: int('BENCH_RESTART_TIMEOUT_MS', 5000),
  // The baseline (another build's daemon) is measured beside this one, right after it in every round.
  tools: (process.env.BENCH_RESTART_TOOLS ?? TOOLS.join(','))
    .split(',')
    .filter(Boolean)
    .flatMap((tool) => (tool === 'pidvisor' && baseline !== null ? [tool, BASELINE_TOOL] : [tool])) as Tool[],
  noInstall: process.env.BENCH_RESTART_NO_INSTALL !== undefined,
};
for (const tool of config.tools) if (!(TOOLS as readonly string[]).includes(tool) && tool !== BASELINE_TOOL) throw new Error(`BENCH_RESTART_TOOLS: unknown tool ${tool}`);
if (baseline !== null) baselineBin(baseline); // fails now, not after the peers are installed

const progress = (line: string): void => void process.stderr.write(`[restart] ${line}\n`);

/** The peers come from Debian (runit, s6, supervisor) and npm (pm2), installed here when missing. */
function installPeers(): void {
  const debian: Record<string, string> = { runit: 'runit', s6: 's6', supervisord: 'supervisor' };
  const missing = config.tools.filter((tool): tool is keyof typeof BINARIES => tool in BINARIES && !fs.existsSync(BINARIES[tool as keyof typeof BINARIES]));
  if (missing.length > 0) {
    if (config.noInstall) throw new Error(`missing: ${missing.map((t) => BINARIES[t]).join(', ')} (BENCH_RESTART_NO_INSTALL is set)`);
    const packages = missing.map((tool) => debian[tool]!);
    progress(`installing ${packages.join(' ')} from Debian`);
    execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  if (config.tools.includes('pm2') && pm2Available() !== null) {
    if (config.noInstall) throw new Error(pm2Available()!);
    progress(`installing pm2@${PM2_VERSION} into ${path.relative(repoRoot, peersDir)}`);
    execFileSync('npm', ['install', '--prefix', peersDir, '--no-save', '--no-audit', '--no-fund', '--loglevel=error', `pm2@${PM2_VERSION}`], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
}

function buildStamp(): void {
  fs.mkdirSync(outDir, { recursive: true });
  execFileSync(process.env.CC ?? 'cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-static', '-o', stampProgram, stampSource], { stdio: ['ignore', 'inherit', 'inherit'] });
}

interface Stamp {
  pid: number;
  ns: bigint;
}

function stamps(dir: string): Stamp[] {
  let text = '';
  try {
    text = fs.readFileSync(path.join(dir, 'stamps'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [pid, ns] = line.split(' ');
      return { pid: Number(pid), ns: BigInt(ns!) };
    });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls (every 2 ms, the bench's CPU kept low) until `dir` has more than `count` stamps; bounded by `timeoutMs`. */
async function nextStamp(dir: string, count: number, timeoutMs: number): Promise<Stamp | null> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const all = stamps(dir);
    if (all.length > count) return all[all.length - 1]!;
    await sleep(2);
  }
  return null;
}

/** One kill and restart: milliseconds from the SIGKILL to the new instance's first stamp, or null if none came in time. */
async function killOnce(s: Supervised): Promise<number | null> {
  const all = stamps(s.dir);
  const current = all[all.length - 1];
  if (current === undefined) throw new Error(`${s.tool}: no instance has run`);
  const upMs = Number(process.hrtime.bigint() - current.ns) / 1e6;
  if (upMs < config.uptimeMs) await sleep(config.uptimeMs - upMs);
  // Through a pidfd, after checking that the pid runs the stamp program: it is this tool's instance.
  const ref = openProcess(current.pid);
  try {
    if (fs.readlinkSync(`/proc/${current.pid}/exe`) !== stampProgram) throw new Error(`${s.tool}: pid ${current.pid} is not the stamp program`);
    const killedAt = process.hrtime.bigint();
    ref.signal('SIGKILL');
    const next = await nextStamp(s.dir, all.length, config.timeoutMs);
    return next === null ? null : Number(next.ns - killedAt) / 1e6;
  } finally {
    ref.close();
  }
}

interface ToolResult {
  tool: Tool;
  how: string;
  samplesMs: number[];
  missed: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

const fmt = (ms: number): string => (Number.isFinite(ms) ? (ms >= 100 ? ms.toFixed(0) : ms.toFixed(2)) : '-');

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the restart bench needs root (runsv, s6-supervise and the daemon cgroups)');
  installPeers();
  buildStamp();
  const load0 = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const supervised: Supervised[] = [];
  const samples = new Map<Tool, number[]>();
  const missed = new Map<Tool, number>();
  try {
    for (const tool of config.tools) {
      progress(`starting ${tool}`);
      const s = await setUp(tool, stampProgram, baseline);
      supervised.push(s);
      samples.set(tool, []);
      missed.set(tool, 0);
      if ((await nextStamp(s.dir, 0, 30_000)) === null) throw new Error(`${tool}: the program did not start in 30 s`);
    }
    const total = config.warmup + config.rounds;
    for (let round = 0; round < total; round++) {
      // Alternate the order each round so that no tool always follows the same one.
      const order = round % 2 === 0 ? supervised : [...supervised].reverse();
      for (const s of order) {
        const ms = await killOnce(s);
        if (round < config.warmup) continue;
        if (ms === null) missed.set(s.tool, missed.get(s.tool)! + 1);
        else samples.get(s.tool)!.push(ms);
        if (ms === null && processState(s.supervisorPid) !== 'alive') throw new Error(`${s.tool} died`);
      }
      if ((round + 1) % 20 === 0) progress(`round ${round + 1 - config.warmup} of ${config.rounds}`);
    }
  } finally {
    for (const s of supervised.reverse()) await s.teardown().catch((error: unknown) => progress(`teardown of ${s.tool}: ${String(error)}`));
  }
  const load1 = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const results: ToolResult[] = supervised.reverse().map((s) => {
    const values = samples.get(s.tool)!;
    return { tool: s.tool, how: s.how, samplesMs: values, missed: missed.get(s.tool)!, p50: percentile(values, 50), p90: percentile(values, 90), p99: percentile(values, 99), max: Math.max(...values) };
  });
  const byTool = new Map(results.map((r) => [r.tool, r]));
  const runit = byTool.get('runit');
  console.log(`\nRestart after SIGKILL: kill to the new instance's first instruction (ms), ${config.rounds} rounds, instance up >= ${config.uptimeMs} ms, restart delay 0 where the tool has one`);
  console.log(`load average ${load0} -> ${load1}\n`);
  console.log(['tool'.padEnd(12), 'p50'.padStart(9), 'p90'.padStart(9), 'p99'.padStart(9), 'max'.padStart(9), 'missed'.padStart(7), 'p50/runit'.padStart(10)].join(' '));
  for (const r of results) {
    const ratio = runit === undefined ? '-' : (r.p50 / runit.p50).toFixed(2);
    console.log([r.tool.padEnd(12), fmt(r.p50).padStart(9), fmt(r.p90).padStart(9), fmt(r.p99).padStart(9), fmt(r.max).padStart(9), String(r.missed).padStart(7), ratio.padStart(10)].join(' '));
  }
  const pidvisor = byTool.get('pidvisor');
  const checks: Array<{ target: string; value: number; limit: string; pass: boolean }> = [];
  if (pidvisor !== undefined && runit !== undefined) {
    checks.push({ target: 'p50 <= runit p50', value: pidvisor.p50 / runit.p50, limit: '<= 1', pass: pidvisor.p50 <= runit.p50 });
    checks.push({ target: 'p99 <= 2x runit p99', value: pidvisor.p99 / runit.p99, limit: '<= 2', pass: pidvisor.p99 <= 2 * runit.p99 });
  }
  const pm2 = byTool.get('pm2');
  if (pidvisor !== undefined && pm2 !== undefined) checks.push({ target: '>= 2x faster than PM2 (p50)', value: pm2.p50 / pidvisor.p50, limit: '>= 2', pass: pm2.p50 >= 2 * pidvisor.p50 });
  if (checks.length > 0) console.log('');
  for (const c of checks) console.log(`${c.pass ? 'PASS' : 'MISS'}  pidvisor ${c.target}: ${c.value.toFixed(2)} (${c.limit})`);
  const base = byTool.get(BASELINE_TOOL);
  if (pidvisor !== undefined && base !== undefined) {
    console.log(`\nagainst the baseline (${baseline}): p50 ${(pidvisor.p50 / base.p50).toFixed(2)}x, p99 ${(pidvisor.p99 / base.p99).toFixed(2)}x`);
    if (runit !== undefined) console.log(`baseline p50/runit ${(base.p50 / runit.p50).toFixed(2)}, p99/runit ${(base.p99 / runit.p99).toFixed(2)}`);
  }
  fs.writeFileSync(path.join(outDir, 'results.json'), `${JSON.stringify({ config, load: [load0, load1], results, checks }, null, 2)}\n`);
  console.log(`\nraw rounds: ${path.relative(repoRoot, path.join(outDir, 'results.json'))}`);
}

await main();
