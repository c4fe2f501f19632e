// One measurement in a fresh Node process, started by spawn-throughput.ts (see
// lib/worker-protocol.ts for why). Not meant to be run by hand, but it can be:
//   node --expose-gc dist/bench/worker.js '{"kind":"throughput","impl":"pidvisor","width":1,"ballast":true}'
import { keepYoungGenerationSmall } from '../daemon/heap.js';
import { holdBallast, checksum } from './lib/ballast.js';
import { readConfig, type BenchConfig } from './lib/config.js';
import { measureExitLatency, type LatencyImplementation } from './lib/exit-latency.js';
import { measureWithLiveChildren, settledRssMiB } from './lib/live-children.js';
import { programPath } from './lib/paths.js';
import { measureRate, spawnOnce, type Implementation, type LoopOptions } from './lib/spawn-loops.js';
import { reply, type LatencyRound, type ThroughputRound, type WorkerRequest } from './lib/worker-protocol.js';

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? 'null') as WorkerRequest | null;
  const config = readConfig();
  switch (request?.kind) {
    case 'throughput':
      reply(await throughputRound(config, request.impl, request.width, request.ballast));
      return;
    case 'live':
      // This worker stands for the daemon holding its children, so it runs with the daemon's
      // heap setting (a young generation that does not grow after a burst of spawns).
      keepYoungGenerationSmall();
      reply(await measureWithLiveChildren(config, programPath('block')));
      return;
    case 'latency':
      reply(await latencyRound(config, request.impl, request.samples, request.stampFile));
      return;
    default:
      throw new Error(`worker: unknown request ${process.argv[2]}`);
  }
}

// One loop, then the same loop again with the ballast held, back to back so that the
// comparison of the two sees the same machine.
async function throughputRound(
  config: BenchConfig,
  impl: Implementation,
  width: number,
  withBallast: boolean,
): Promise<ThroughputRound> {
  const once = spawnOnce(impl);
  const loop = (count: number, warmup: number): LoopOptions => ({ count, width, warmup, maxSeconds: config.loopSeconds });
  const plain = await measureRate(once, loop(config.spawns, config.warmup));
  if (!withBallast || config.ballastMiB === 0) return { impl, width, plain, ballast: null };

  // fork() with the ballast is slow enough that child_process gets a smaller count.
  const count = impl === 'child_process' ? config.ballastForkSpawns : config.spawns;
  const rssBeforeMiB = settledRssMiB();
  const held = holdBallast(config.ballastMiB);
  const rssHeldMiB = settledRssMiB();
  const sample = await measureRate(once, loop(count, Math.min(config.warmup, Math.ceil(count / 10))));
  if (checksum(held) === 0) throw new Error('ballast was not written');
  return { impl, width, plain, ballast: { mib: held.mib, rssBeforeMiB, rssHeldMiB, sample } };
}

async function latencyRound(config: BenchConfig, impl: LatencyImplementation, samples: number, stampFile: string): Promise<LatencyRound> {
  const latenciesNs = await measureExitLatency(impl, {
    samples,
    warmup: config.latencyWarmup,
    delayUs: config.latencyDelayUs,
    maxSeconds: config.loopSeconds,
    stampProgram: programPath('exit-stamp'),
    stampFile,
  });
  return { impl, latenciesNs };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
