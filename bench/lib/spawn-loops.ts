// Spawn-and-reap loops inside Node: pidvisor's native spawn and child_process.spawn, one
// child at a time or with a fixed number in flight. Each loop is bounded by its count and
// by a deadline; a loop that hits the deadline reports the rate of the cycles it finished.
import childProcess from 'node:child_process';
import { spawn } from '../../native/index.js';

export type Implementation = 'pidvisor' | 'child_process';

export interface RateSample {
  /** Completed spawn-and-reap cycles per second. */
  rate: number;
  completed: number;
  seconds: number;
  /** True when the deadline, not the count, ended the loop. */
  capped: boolean;
}

export interface LoopOptions {
  count: number;
  /** Children running at once; 1 is the sequential loop. */
  width: number;
  warmup: number;
  maxSeconds: number;
}

/** One spawn of `program`, resolved once the child has been reaped with status 0. */
export type SpawnOnce = () => Promise<void>;

export const TRUE_PROGRAM = '/bin/true';

export function spawnOnce(impl: Implementation, program = TRUE_PROGRAM): SpawnOnce {
  return impl === 'pidvisor' ? () => pidvisorOnce(program) : () => childProcessOnce(program);
}

async function pidvisorOnce(program: string): Promise<void> {
  const child = spawn({ command: program, stdio: ['null', 'null', 'null'] });
  const exit = await child.wait();
  if (exit.code !== 0) throw new Error(`${program} (pid ${child.pid}) ended with ${JSON.stringify(exit)}`);
}

function childProcessOnce(program: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = childProcess.spawn(program, [], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${program} (pid ${child.pid}) ended with code ${code} signal ${signal}`));
    });
  });
}

/** Runs `options.warmup` untimed cycles, then the timed loop. */
export async function measureRate(once: SpawnOnce, options: LoopOptions): Promise<RateSample> {
  const warmupDeadline = performance.now() + options.maxSeconds * 1000;
  await runLoop(once, options.width, options.warmup, warmupDeadline);
  const start = performance.now();
  const completed = await runLoop(once, options.width, options.count, start + options.maxSeconds * 1000);
  const seconds = (performance.now() - start) / 1000;
  return { rate: completed / seconds, completed, seconds, capped: completed < options.count };
}

// `width` lanes share one counter; each lane starts a child, awaits its reap, and goes again
// while the count and the deadline allow. Returns the number of cycles completed.
async function runLoop(once: SpawnOnce, width: number, count: number, deadline: number): Promise<number> {
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < count && performance.now() < deadline) {
      started++;
      await once();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, lane));
  return started;
}
