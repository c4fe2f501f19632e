// Turns the raw rounds into medians, the target checks and the printed table, and writes
// the whole run (raw rounds included) as JSON.
import fs from 'node:fs';
import os from 'node:os';
import type { BenchConfig } from './config.js';
import type { LiveChildrenResult } from './live-children.js';
import type { RateSample } from './spawn-loops.js';
import { median, percentile } from './stats.js';
import type { ThroughputRound } from './worker-protocol.js';

export interface BenchResults {
  throughput: { c: { sequential: RateSample[]; inFlight: RateSample[] }; rounds: ThroughputRound[] } | null;
  live: LiveChildrenResult | null;
  latency: { c: number[]; pidvisor: number[]; pidvisorCallback: number[]; childProcess: number[] } | null;
}

/** One figure per implementation; null where not measured. */
interface Figure {
  pidvisor: number | null;
  c: number | null;
  childProcess: number | null;
  /** A loop hit its time cap: the figure is the rate of the cycles it did finish. */
  capped?: boolean;
}

export interface Check {
  name: string;
  ratio: number;
  target: string;
  pass: boolean;
}

export interface Summary {
  figures: Record<string, Figure>;
  checks: Check[];
}

const RSS_TARGET_MB = 60;

export function summarize(config: BenchConfig, results: BenchResults): Summary {
  const figures: Record<string, Figure> = {};
  const checks: Check[] = [];
  const atLeast = (name: string, value: number | null, base: number | null, min: number): void => {
    if (value === null || base === null) return;
    const ratio = value / base;
    checks.push({ name, ratio, target: `>= ${min.toFixed(2)}x`, pass: ratio >= min });
  };

  const t = results.throughput;
  if (t !== null) {
    // Median rate of one implementation at one width, without or with the ballast.
    const figure = (width: number, ballast: boolean, c: RateSample[] | null): Figure => {
      const samples = (impl: ThroughputRound['impl']): RateSample[] =>
        t.rounds
          .filter((r) => r.impl === impl && r.width === width)
          .map((r) => (ballast ? r.ballast?.sample : r.plain))
          .filter((s): s is RateSample => s !== undefined);
      const rate = (list: RateSample[] | null): number | null => (list === null || list.length === 0 ? null : median(list.map((s) => s.rate)));
      const ours = samples('pidvisor');
      const fork = samples('child_process');
      return {
        pidvisor: rate(ours),
        c: rate(c),
        childProcess: rate(fork),
        capped: [...ours, ...fork, ...(c ?? [])].some((s) => s.capped),
      };
    };
    const seq = (figures.sequential = figure(1, false, t.c.sequential));
    const wide = (figures.inFlight = figure(config.inFlight, false, t.c.inFlight));
    atLeast('sequential: pidvisor / C posix_spawn', seq.pidvisor, seq.c, 0.9);
    atLeast('sequential: pidvisor / child_process', seq.pidvisor, seq.childProcess, 2.2);
    atLeast(`${config.inFlight} in flight: pidvisor / C posix_spawn`, wide.pidvisor, wide.c, 0.8);
    atLeast(`${config.inFlight} in flight: pidvisor / child_process`, wide.pidvisor, wide.childProcess, 2.2);
    if (config.ballastMiB > 0) {
      const held = `${ballastLabel(config.ballastMiB)} held`;
      // "Within 10% of its own figure without them": slower by at most 10% (faster is fine).
      const bs = (figures.ballastSequential = figure(1, true, null));
      const bw = (figures.ballastInFlight = figure(config.inFlight, true, null));
      atLeast(`sequential, ${held}: pidvisor / child_process`, bs.pidvisor, bs.childProcess, 10);
      atLeast(`sequential, ${held}: pidvisor / pidvisor without`, bs.pidvisor, seq.pidvisor, 0.9);
      atLeast(`${config.inFlight} in flight, ${held}: pidvisor / child_process`, bw.pidvisor, bw.childProcess, 10);
      atLeast(`${config.inFlight} in flight, ${held}: pidvisor / pidvisor without`, bw.pidvisor, wide.pidvisor, 0.9);
    }
  }

  const live = results.live;
  if (live !== null) {
    const none = [...live.before, ...live.after];
    const without = median(none.map((s) => s.rate));
    const withChildren = median(live.with.map((s) => s.rate));
    figures.liveWithout = { pidvisor: without, c: null, childProcess: null, capped: none.some((s) => s.capped) };
    figures.liveWith = { pidvisor: withChildren, c: null, childProcess: null, capped: live.with.some((s) => s.capped) };
    figures.liveRssMB = { pidvisor: (live.rssWithMiB * 2 ** 20) / 1e6, c: null, childProcess: null };
    figures.liveKillSeconds = { pidvisor: live.killSeconds, c: null, childProcess: null };
    atLeast(`sequential, ${live.held.toLocaleString('en-US')} live: pidvisor / pidvisor with none`, withChildren, without, 0.8);
    const rssMB = figures.liveRssMB.pidvisor!;
    checks.push({
      name: `RSS with ${live.held.toLocaleString('en-US')} children watched`,
      ratio: rssMB,
      target: `< ${RSS_TARGET_MB} MB`,
      pass: rssMB < RSS_TARGET_MB && live.held === live.requested,
    });
  }

  const l = results.latency;
  if (l !== null) {
    const us = (ns: number[], p: number): number | null => (ns.length === 0 ? null : percentile(ns, p) / 1000);
    figures.latencyP50 = { pidvisor: us(l.pidvisor, 50), c: us(l.c, 50), childProcess: us(l.childProcess, 50) };
    figures.latencyP99 = { pidvisor: us(l.pidvisor, 99), c: us(l.c, 99), childProcess: us(l.childProcess, 99) };
    // The floor row fills only the pidvisor column: the C figure is the same loop as above.
    figures.latencyFloorP50 = { pidvisor: us(l.pidvisorCallback, 50), c: null, childProcess: null };
    figures.latencyFloorP99 = { pidvisor: us(l.pidvisorCallback, 99), c: null, childProcess: null };
    const p50 = figures.latencyP50;
    if (p50.pidvisor !== null && p50.c !== null) {
      const ratio = p50.pidvisor / p50.c;
      checks.push({ name: 'exit latency p50: pidvisor / C epoll on pidfd', ratio, target: '<= 1.20x', pass: ratio <= 1.2 });
    }
  }
  return { figures, checks };
}

export function formatReport(config: BenchConfig, results: BenchResults, summary: Summary): string {
  const f = summary.figures;
  const held = `${ballastLabel(config.ballastMiB)} held`;
  const liveCount = results.live?.held.toLocaleString('en-US') ?? '';
  const rows: Array<[string, Figure | undefined, number]> = [
    ['spawn+reap/s  sequential', f.sequential, 0],
    [`spawn+reap/s  ${config.inFlight} in flight`, f.inFlight, 0],
    [`spawn+reap/s  sequential, ${held}`, f.ballastSequential, 0],
    [`spawn+reap/s  ${config.inFlight} in flight, ${held}`, f.ballastInFlight, 0],
    ['spawn+reap/s  sequential, none (before+after)', f.liveWithout, 0],
    [`spawn+reap/s  sequential, ${liveCount} live children`, f.liveWith, 0],
    [`RSS with ${liveCount} children watched (MB)`, f.liveRssMB, 1],
    [`SIGKILL + reap all ${liveCount} (s)`, f.liveKillSeconds, 2],
    ['exit-detection latency p50 (us)', f.latencyP50, 1],
    ['exit-detection latency p99 (us)', f.latencyP99, 1],
    ['  floor: exit callback entered, p50 (us)', f.latencyFloorP50, 1],
    ['  floor: exit callback entered, p99 (us)', f.latencyFloorP99, 1],
  ];
  const cell = (value: number | null, digits: number): string =>
    value === null ? '-' : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const lines = [
    `${'measurement'.padEnd(48)}${'pidvisor'.padStart(11)}${'C'.padStart(11)}${'child_process'.padStart(15)}`,
  ];
  for (const [label, figure, digits] of rows) {
    if (figure === undefined) continue;
    lines.push(
      `${(label + (figure.capped === true ? ' *' : '')).padEnd(48)}${cell(figure.pidvisor, digits).padStart(11)}` +
        `${cell(figure.c, digits).padStart(11)}${cell(figure.childProcess, digits).padStart(15)}`,
    );
  }
  if (results.throughput !== null || results.latency !== null) {
    lines.push('C column: a posix_spawn + waitpid loop for throughput; posix_spawn + pidfd_open + epoll_wait for latency.');
  }
  const floor = f.latencyFloorP50?.pidvisor;
  const c = f.latencyP50?.c;
  if (floor !== null && floor !== undefined && c !== null && c !== undefined) {
    lines.push(
      `Latency floor: the addon's exit callback, entered by MakeCallback after the reap, doing nothing but take the time: ` +
        `${(floor / c).toFixed(2)}x C at p50. Node's entry into JS sits between it and C; wait()'s record and promise between it and pidvisor.`,
    );
  }
  const ballast = results.throughput?.rounds.map((r) => r.ballast).filter((b) => b !== null) ?? [];
  if (ballast.length > 0) {
    const before = median(ballast.map((b) => b.rssBeforeMiB));
    const heldRss = median(ballast.map((b) => b.rssHeldMiB));
    lines.push(`Ballast: worker RSS ${before.toFixed(0)} MiB before, ${heldRss.toFixed(0)} MiB while held (median of workers).`);
  }
  const live = results.live;
  if (live !== null) {
    const m = (b: LiveChildrenResult['memoryWith']): string =>
      `anon ${b.rssAnon.toFixed(1)} + file ${b.rssFile.toFixed(1)} MiB; V8 heap ${b.heapUsed.toFixed(1)} used of ` +
      `${b.heapTotal.toFixed(1)} MiB (new space ${b.newSpacePhysical.toFixed(1)} MiB resident)`;
    lines.push(`RSS before the live children: ${m(live.memoryBefore)}`);
    lines.push(`RSS with them:                ${m(live.memoryWith)}`);
  }
  if (rows.some(([, figure]) => figure?.capped === true)) {
    lines.push(`* some loop hit its ${config.loopSeconds} s cap (BENCH_LOOP_SECONDS); the rate counts the cycles it finished.`);
  }
  lines.push('');
  for (const check of summary.checks) {
    const value = check.target.endsWith('MB') ? `${check.ratio.toFixed(1)} MB` : `${check.ratio.toFixed(2)}x`;
    lines.push(`${check.pass ? 'PASS' : 'MISS'}  ${check.name.padEnd(58)}${value.padStart(9)}   target ${check.target}`);
  }
  const passed = summary.checks.filter((c) => c.pass).length;
  lines.push(`${passed}/${summary.checks.length} targets met`);
  return lines.join('\n');
}

export function writeJson(file: string, config: BenchConfig, results: BenchResults, summary: Summary): void {
  const document = {
    schema: 1,
    generatedAt: new Date().toISOString(),
    host: {
      kernel: os.release(),
      node: process.version,
      cpus: os.availableParallelism(),
      arch: process.arch,
      loadAverageAtEnd: os.loadavg(),
    },
    config: { ...config, only: [...config.only] },
    figures: summary.figures,
    checks: summary.checks,
    raw: results,
  };
  fs.writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
}

function ballastLabel(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`;
}
