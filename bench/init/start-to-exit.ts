// Start-to-exit wall time as PID 1: from just before the bench spawns `unshare` to the
// moment spawnSync returns (unshare has reaped the namespace's PID 1). Every figure holds the
// same overhead (spawning unshare, the namespace, mounting /proc), which the baseline row, the
// command alone as PID 1, shows. Rounds interleave the targets, rotating which goes first, so
// drift in the machine's load hits all of them alike.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { settings } from './config.js';
import { asPid1 } from './pidns.js';
import { summarize, type Summary } from './stats.js';
import type { SupervisordHarness, SupervisordTimes } from './supervisord.js';
import type { Target } from './targets.js';

const MAIN_COMMAND = ['/bin/true'];

export interface TimedRun {
  ms: number;
  /** CPU time (user + system) of the whole tree the run started, milliseconds (10 ms ticks). */
  cpuMs: number;
  ok: boolean;
  detail: string | null;
}

export interface TargetTimes {
  id: string;
  label: string;
  argv: string[];
  samples: number[];
  summary: Summary;
  /** CPU time of each successful run; on a loaded machine steadier than the wall time. */
  cpuSamples: number[];
  cpu: Summary;
  failures: number;
  firstFailure: string | null;
}

export interface SupervisordTimesResult extends TargetTimes {
  /** Per run: startedMs, spawnedMs, exitedMs, eventMs (see supervisord.ts); samples are the exitedMs. */
  runs: (SupervisordTimes & { goneMs: number })[];
  started: Summary;
  spawned: Summary;
  event: Summary;
  gone: Summary;
}

// USER_HZ: the unit of /proc's tick counts, 100 on every Linux ABI.
const TICKS_PER_SECOND = 100;

/**
 * CPU time of this process's reaped children, milliseconds: cutime + cstime of
 * /proc/self/stat (proc(5) fields 16 and 17). A child reaped by spawnSync adds its own time and
 * that of every descendant reaped below it: unshare, the init, and what the init ran.
 */
function reapedChildrenCpuMs(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / TICKS_PER_SECOND;
}

export function timeOnce(argv: readonly string[]): TimedRun {
  const cpu0 = reapedChildrenCpuMs();
  const t0 = performance.now();
  const result = spawnSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], timeout: settings.timeoutMs, killSignal: 'SIGKILL' });
  const ms = performance.now() - t0;
  const cpuMs = reapedChildrenCpuMs() - cpu0;
  const ok = result.error === undefined && result.status === 0;
  const detail = ok ? null : `${result.error?.message ?? `status ${result.status} signal ${result.signal}`}: ${result.stderr?.toString().slice(0, 500) ?? ''}`;
  return { ms, cpuMs, ok, detail };
}

interface Entry {
  id: string;
  label: string;
  argv: string[];
  runs: number;
  run: () => TimedRun & { supervisord?: SupervisordTimes };
}

function supervisordEntry(harness: SupervisordHarness): Entry {
  const argv = asPid1(harness.timeArgv());
  return {
    id: 'supervisord',
    label: 'supervisord (program reaped)',
    argv,
    runs: settings.supervisordRuns,
    run: () => {
      harness.prepareRun();
      const startEpochMs = performance.timeOrigin + performance.now();
      const timed = timeOnce(argv);
      return { ...timed, supervisord: harness.readRun(startEpochMs) };
    },
  };
}

export function measureStartToExit(targets: readonly Target[], harness: SupervisordHarness | null, log: (line: string) => void): { targets: TargetTimes[]; supervisord: SupervisordTimesResult | null } {
  const entries: Entry[] = targets.map((target) => {
    const argv = asPid1(target.argv(MAIN_COMMAND));
    return { id: target.id, label: target.label, argv, runs: settings.runs, run: () => timeOnce(argv) };
  });
  if (harness !== null) entries.push(supervisordEntry(harness));

  for (const entry of entries) for (let i = 0; i < Math.min(settings.warmup, entry.runs); i++) entry.run();

  const samples = new Map<string, number[]>(entries.map((e) => [e.id, []]));
  const cpuSamples = new Map<string, number[]>(entries.map((e) => [e.id, []]));
  const failures = new Map<string, string[]>(entries.map((e) => [e.id, []]));
  const svRuns: (SupervisordTimes & { goneMs: number })[] = [];
  const rounds = Math.max(0, ...entries.map((e) => e.runs));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < entries.length; k++) {
      const entry = entries[(round + k) % entries.length]!;
      if (round >= entry.runs) continue;
      const result = entry.run();
      if (result.ok) cpuSamples.get(entry.id)!.push(result.cpuMs);
      if (result.supervisord !== undefined) {
        const exited = result.supervisord.exitedMs;
        if (result.ok && exited !== null) {
          samples.get(entry.id)!.push(exited);
          svRuns.push({ ...result.supervisord, goneMs: result.ms });
        } else {
          failures.get(entry.id)!.push(result.detail ?? 'no "exited: x" line in the supervisord log');
        }
      } else if (result.ok) {
        samples.get(entry.id)!.push(result.ms);
      } else {
        failures.get(entry.id)!.push(result.detail ?? 'failed');
      }
    }
    log(`  round ${round + 1}/${rounds} done`);
  }

  const toResult = (entry: Entry): TargetTimes => ({
    id: entry.id,
    label: entry.label,
    argv: entry.argv,
    samples: samples.get(entry.id)!,
    summary: summarize(samples.get(entry.id)!),
    cpuSamples: cpuSamples.get(entry.id)!,
    cpu: summarize(cpuSamples.get(entry.id)!),
    failures: failures.get(entry.id)!.length,
    firstFailure: failures.get(entry.id)![0] ?? null,
  });
  const results = entries.filter((e) => e.id !== 'supervisord').map(toResult);
  const svEntry = entries.find((e) => e.id === 'supervisord');
  const supervisord =
    svEntry === undefined
      ? null
      : {
          ...toResult(svEntry),
          runs: svRuns,
          started: summarize(svRuns.flatMap((r) => (r.startedMs === null ? [] : [r.startedMs]))),
          spawned: summarize(svRuns.flatMap((r) => (r.spawnedMs === null ? [] : [r.spawnedMs]))),
          event: summarize(svRuns.flatMap((r) => (r.eventMs === null ? [] : [r.eventMs]))),
          gone: summarize(svRuns.map((r) => r.goneMs)),
        };
  return { targets: results, supervisord };
}
