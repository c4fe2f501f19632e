// What a running instance costs now: CPU time and recent CPU %, memory, tasks, open fds,
// uptime. One sample reads the instance's own files (usage-proc.ts); when to sample is the
// sampler's business (usage-sampler.ts).
//
// Which processes are "the instance" follows its kill mode, as `pidvisor show` lists them:
//   cgroup:  everything in its cgroup; CPU from cpu.stat (exact, and it keeps the time of
//            processes that have ended), memory from memory.current where the cgroup v2 memory
//            controller is on, else the summed RSS of its processes;
//   group:   the processes of the group the main process leads;
//   process: the main process and its descendants.
// Outside cgroup mode the CPU time is that of the live processes and of the children they
// reaped (/proc's utime + stime + cutime + cstime), so a process that leaves the tree, or ends
// unreaped by it, takes its time along; the figure shown never goes down within an instance.
// Summed RSS counts pages shared between the processes once per process, as pm2 and ps do.
import type { KillMode } from './definition.js';
import { cgroupPids, countFds, readCgroupCpuUsec, readCgroupMemory, readProcStat, scanProc, type ProcStat } from './usage-proc.js';

export type MemorySource = 'memory.current' | 'rss';

/** The `usage` of a process in the API (null there when no instance runs). */
export interface ResourceUsageNow {
  /** CPU time of the instance so far, in µs. */
  cpuUsec: number;
  /** CPU over the last window (at least MIN_WINDOW_MS), in % of one core (200 = two cores busy); null for a window too short to mean anything. */
  cpuPercent: number | null;
  memoryBytes: number | null;
  memorySource: MemorySource | null;
  /** Threads of the instance's processes. */
  tasks: number | null;
  /** Open fds of the instance's processes that the daemon may look at. */
  fds: number | null;
  uptimeMs: number;
  sampledAt: string;
}

/** Where a running instance is: its main process and what its tree is. */
export interface UsageTarget {
  pid: number;
  mode: KillMode;
  cgroupDir: string | null;
}

/**
 * The processes of the machine, read once per sampling pass and only if a service in group or
 * process mode needs them (a cgroup lists its own).
 */
export class ProcTable {
  #stats: Map<number, ProcStat> | null = null;
  #byGroup: Map<number, number[]> | null = null;
  #children: Map<number, number[]> | null = null;

  get stats(): Map<number, ProcStat> {
    this.#stats ??= scanProc();
    return this.#stats;
  }

  group(pgid: number): number[] {
    if (this.#byGroup === null) this.#byGroup = indexBy(this.stats, (stat) => stat.pgrp);
    return this.#byGroup.get(pgid) ?? [];
  }

  /** The process and its descendants by parent pid (an orphan is re-parented away, as in `pidvisor show`). */
  tree(pid: number): number[] {
    if (this.#children === null) this.#children = indexBy(this.stats, (stat) => stat.ppid);
    if (!this.stats.has(pid)) return [];
    const found = [pid];
    // Bounded by the table: each pid is added once (a pid is never its own ancestor in one snapshot, but a reused pid could make it look so).
    const seen = new Set(found);
    for (let i = 0; i < found.length; i++) {
      for (const child of this.#children.get(found[i]!) ?? []) {
        if (!seen.has(child)) {
          seen.add(child);
          found.push(child);
        }
      }
    }
    return found;
  }
}

function indexBy(stats: Map<number, ProcStat>, key: (stat: ProcStat) => number): Map<number, number[]> {
  const index = new Map<number, number[]>();
  for (const [pid, stat] of stats) {
    const list = index.get(key(stat));
    if (list === undefined) index.set(key(stat), [pid]);
    else list.push(pid);
  }
  return index;
}

interface Reading {
  cpuUsec: number;
  memoryBytes: number | null;
  memorySource: MemorySource | null;
  tasks: number | null;
  fds: number | null;
}

/** Reads what the instance costs now. */
export function measure(target: UsageTarget, table: ProcTable): Reading {
  const inCgroup = target.mode === 'cgroup' && target.cgroupDir !== null;
  let stats: ProcStat[];
  let pids: number[];
  if (inCgroup) {
    pids = cgroupPids(target.cgroupDir!);
    stats = pids.map(readProcStat).filter((stat): stat is ProcStat => stat !== null);
  } else {
    pids = target.mode === 'group' ? table.group(target.pid) : table.tree(target.pid);
    stats = pids.map((pid) => table.stats.get(pid)!);
  }
  const sum = (values: number[]): number | null => (values.length === 0 ? null : values.reduce((a, b) => a + b, 0));
  const cgroupCpu = inCgroup ? readCgroupCpuUsec(target.cgroupDir!) : null;
  const cgroupMemory = inCgroup ? readCgroupMemory(target.cgroupDir!) : null;
  const rss = sum(stats.map((stat) => stat.rssBytes));
  return {
    cpuUsec: cgroupCpu ?? sum(stats.map((stat) => stat.cpuUsec)) ?? 0,
    memoryBytes: cgroupMemory ?? rss,
    memorySource: cgroupMemory !== null ? 'memory.current' : rss !== null ? 'rss' : null,
    tasks: sum(stats.map((stat) => stat.threads)),
    fds: sum(pids.map(countFds).filter((n): n is number => n !== null)),
  };
}

/** The shortest window a CPU % is computed over when an older sample exists. */
export const MIN_WINDOW_MS = 1000;
/** Below this (a first sample of a very young instance), no CPU % is given. */
const MIN_PERCENT_WINDOW_MS = 200;

/** The samples of one instance: the latest, and what its CPU % is measured against. */
export class UsageTracker {
  readonly instance: string;
  readonly #startedAt: number;
  /** Earlier samples (monotonic ms, CPU µs), oldest first; only the newest one MIN_WINDOW_MS old and those after it are kept. */
  #history: Array<{ at: number; cpuUsec: number }> = [];
  #latest: ResourceUsageNow | null = null;
  #latestAt = -Infinity;

  /** `startedAt`: the instance's start (ms since the epoch); its CPU time was 0 then. */
  constructor(instance: string, startedAt: number) {
    this.instance = instance;
    this.#startedAt = startedAt;
  }

  get latest(): ResourceUsageNow | null {
    return this.#latest;
  }

  /** How old the latest sample is, in ms (Infinity before the first). */
  ageMs(nowMonotonic: number): number {
    return nowMonotonic - this.#latestAt;
  }

  record(reading: Reading, now: { wall: number; monotonic: number }): void {
    const cpuUsec = Math.max(reading.cpuUsec, this.#latest?.cpuUsec ?? 0);
    const base = this.#baseline(now);
    const windowMs = now.monotonic - base.at;
    const cpuPercent = windowMs < MIN_PERCENT_WINDOW_MS ? null : Math.round(((cpuUsec - base.cpuUsec) / windowMs / 10) * 10) / 10;
    this.#latest = {
      ...reading,
      cpuUsec,
      cpuPercent,
      uptimeMs: Math.max(0, now.wall - this.#startedAt),
      sampledAt: new Date(now.wall).toISOString(),
    };
    this.#latestAt = now.monotonic;
    this.#history.push({ at: now.monotonic, cpuUsec });
    const keepFrom = this.#newestOldEnough(now.monotonic);
    if (keepFrom > 0) this.#history.splice(0, keepFrom);
  }

  /** The newest earlier sample at least MIN_WINDOW_MS old, else the instance's start (CPU 0). */
  #baseline(now: { wall: number; monotonic: number }): { at: number; cpuUsec: number } {
    const old = this.#newestOldEnough(now.monotonic);
    if (old >= 0) return this.#history[old]!;
    return { at: now.monotonic - Math.max(0, now.wall - this.#startedAt), cpuUsec: 0 };
  }

  /** The index of the newest sample at least MIN_WINDOW_MS old, or -1. */
  #newestOldEnough(nowMonotonic: number): number {
    for (let i = this.#history.length - 1; i >= 0; i--) if (nowMonotonic - this.#history[i]!.at >= MIN_WINDOW_MS) return i;
    return -1;
  }
}
