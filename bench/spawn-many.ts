// 200 x `sleep 3600` started by a loop of spawn() and by one spawnMany(), in the same run:
// how long the JS thread is blocked starting them, as medians over interleaved rounds and
// as their ratio. Run after `npm run build`: node dist/bench/spawn-many.js (bench/README.md).
import os from 'node:os';
import { spawn, spawnMany, type ChildProcess, type SpawnOptions } from '../native/index.js';
import { median } from './lib/stats.js';

const CHILDREN = positive('BENCH_MANY_CHILDREN', 200);
const ROUNDS = positive('BENCH_MANY_ROUNDS', 7);

function positive(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

const entries: SpawnOptions[] = Array.from({ length: CHILDREN }, () => ({
  command: 'sleep',
  args: ['3600'],
  stdio: ['null', 'null', 'null'],
}));

type Starter = () => ChildProcess[];

const starters: Record<'loop' | 'many', Starter> = {
  loop: () => entries.map((options) => spawn(options)),
  many: () =>
    spawnMany(entries).map((result) => {
      if (result instanceof Error) throw result;
      return result;
    }),
};

/** Milliseconds the JS thread spent starting the batch; every child is killed and reaped after. */
async function measure(start: Starter): Promise<number> {
  const begin = process.hrtime.bigint();
  const children = start();
  const ms = Number(process.hrtime.bigint() - begin) / 1e6;
  for (const child of children) child.signal('SIGKILL');
  await Promise.all(children.map((child) => child.wait()));
  return ms;
}

async function main(): Promise<void> {
  const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`${CHILDREN} x sleep 3600, ${ROUNDS} rounds, ${os.availableParallelism()} CPUs, load ${load()}`);
  await measure(starters.loop); // warm-up: probes, /dev/null, page cache of sleep
  await measure(starters.many);
  const times = { loop: [] as number[], many: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order so drift in the machine's load hits both alike.
    const order = round % 2 === 0 ? (['loop', 'many'] as const) : (['many', 'loop'] as const);
    for (const name of order) times[name].push(await measure(starters[name]));
    console.log(`  round ${round + 1}: loop ${times.loop.at(-1)!.toFixed(1)} ms, spawnMany ${times.many.at(-1)!.toFixed(1)} ms`);
  }
  const loop = median(times.loop);
  const many = median(times.many);
  console.log(`median blocked time: spawn() loop ${loop.toFixed(1)} ms, spawnMany() ${many.toFixed(1)} ms`);
  console.log(`ratio loop / spawnMany: ${(loop / many).toFixed(2)} (per round: ${times.loop.map((l, i) => (l / times.many[i]!).toFixed(2)).join(' ')})`);
  console.log(`load at the end ${load()}`);
}

await main();
