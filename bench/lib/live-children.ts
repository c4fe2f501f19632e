// Spawn rate with many live children already watched. Each is the static `block` program
// (pause() forever) with /dev/null on fds 0-2 and SIGKILL as its parent-death signal, so a
// crashed bench leaves none behind. They are killed through their ProcessRef (pidfd) and
// every exit is awaited before the scenario ends.
import fs from 'node:fs';
import v8 from 'node:v8';
import { spawn, type ChildProcess } from '../../native/index.js';
import { measureRate, spawnOnce, type RateSample } from './spawn-loops.js';
import type { BenchConfig } from './config.js';
import { mebibytes } from './stats.js';

export interface LiveChildrenResult {
  requested: number;
  held: number;
  /** Seconds taken to spawn the live children. */
  spawnSeconds: number;
  /**
   * Sequential rates, one per round: with none held (before them, and again after they are
   * reaped, so drift in the machine's load weighs on both sides), and with `held` watched.
   */
  before: RateSample[];
  with: RateSample[];
  after: RateSample[];
  rssBeforeMiB: number;
  rssWithMiB: number;
  /** Where the RSS is, before and with the children: to tell per-child cost from heap growth. */
  memoryBefore: MemoryBreakdown;
  memoryWith: MemoryBreakdown;
  /** Seconds from the first SIGKILL until the last exit was reaped. */
  killSeconds: number;
  reaped: number;
  killedBySigkill: number;
}

/** MiB: the kernel's split of the RSS, and V8's heap (new space is what a burst of spawns grows). */
export interface MemoryBreakdown {
  rssAnon: number;
  rssFile: number;
  heapTotal: number;
  heapUsed: number;
  newSpacePhysical: number;
  external: number;
}

export async function measureWithLiveChildren(config: BenchConfig, blockProgram: string): Promise<LiveChildrenResult> {
  const loop = { count: config.spawns, width: 1, warmup: config.warmup, maxSeconds: config.loopSeconds };
  const once = spawnOnce('pidvisor');
  const rounds = async (): Promise<RateSample[]> => {
    const samples: RateSample[] = [];
    for (let round = 0; round < config.rounds; round++) samples.push(await measureRate(once, loop));
    return samples;
  };
  const before = await rounds();
  const rssBeforeMiB = settledRssMiB();
  const memoryBefore = memoryBreakdown();

  // Holding them all takes longer than one timed loop: allow three loops' worth.
  const spawnStart = performance.now();
  const children = holdChildren(blockProgram, config.liveChildren, spawnStart + 3 * config.loopSeconds * 1000);
  const spawnSeconds = (performance.now() - spawnStart) / 1000;
  try {
    const rssWithMiB = settledRssMiB();
    const memoryWith = memoryBreakdown();
    const withChildren = await rounds();
    const killed = await killAll(children, config.loopSeconds * 3);
    return {
      requested: config.liveChildren,
      held: children.length,
      spawnSeconds,
      before,
      with: withChildren,
      after: await rounds(),
      rssBeforeMiB,
      rssWithMiB,
      memoryBefore,
      memoryWith,
      ...killed,
    };
  } finally {
    // On any failure above: whatever is still running goes, through its own pidfd only.
    for (const child of children) if (child.exitStatus === undefined) trySigkill(child);
  }
}

function holdChildren(program: string, count: number, deadline: number): ChildProcess[] {
  const children: ChildProcess[] = [];
  try {
    while (children.length < count && performance.now() < deadline) {
      children.push(spawn({ command: program, stdio: ['null', 'null', 'null'], parentDeathSignal: 'SIGKILL' }));
    }
  } catch (error) {
    for (const child of children) trySigkill(child);
    throw error;
  }
  return children;
}

async function killAll(
  children: readonly ChildProcess[],
  maxSeconds: number,
): Promise<Pick<LiveChildrenResult, 'killSeconds' | 'reaped' | 'killedBySigkill'>> {
  const start = performance.now();
  for (const child of children) child.signal('SIGKILL');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`live children not all reaped after ${maxSeconds} s`)), maxSeconds * 1000);
  });
  try {
    const exits = await Promise.race([Promise.all(children.map((child) => child.wait())), timeout]);
    return {
      killSeconds: (performance.now() - start) / 1000,
      reaped: exits.length,
      killedBySigkill: exits.filter((exit) => exit.signal === 'SIGKILL').length,
    };
  } finally {
    clearTimeout(timer);
  }
}

function trySigkill(child: ChildProcess): void {
  try {
    child.signal('SIGKILL');
  } catch {
    // already exited and reaped: nothing to do
  }
}

/** RSS after a full GC (the bench runs under --expose-gc), in MiB. */
export function settledRssMiB(): number {
  globalThis.gc?.();
  return mebibytes(process.memoryUsage().rss);
}

function memoryBreakdown(): MemoryBreakdown {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  const usage = process.memoryUsage();
  const newSpace = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  return {
    rssAnon: kib('RssAnon') / 1024,
    rssFile: kib('RssFile') / 1024,
    heapTotal: mebibytes(usage.heapTotal),
    heapUsed: mebibytes(usage.heapUsed),
    newSpacePhysical: mebibytes(newSpace?.physical_space_size ?? 0),
    external: mebibytes(usage.external),
  };
}
