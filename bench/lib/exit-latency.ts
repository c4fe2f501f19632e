// Exit-detection latency inside Node: the child (exit-stamp) writes CLOCK_MONOTONIC just
// before _exit to fd 1, a file shared by all samples; the parent notes
// process.hrtime.bigint() (CLOCK_MONOTONIC as well) when it learns of the exit: when
// pidvisor's wait() resolves after the reap, or when child_process emits 'exit'. Children
// run one at a time, so the file holds their stamps in order.
import childProcess from 'node:child_process';
import fs from 'node:fs';
import { spawn } from '../../native/index.js';
import type { Implementation } from './spawn-loops.js';

export interface LatencyOptions {
  samples: number;
  warmup: number;
  delayUs: number;
  maxSeconds: number;
  stampProgram: string;
  stampFile: string;
}

/** Latencies in nanoseconds, warmups excluded. */
export async function measureExitLatency(impl: Implementation, options: LatencyOptions): Promise<number[]> {
  const fd = fs.openSync(options.stampFile, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_APPEND, 0o600);
  try {
    const learnedAt: bigint[] = [];
    const total = options.samples + options.warmup;
    const deadline = performance.now() + options.maxSeconds * 1000;
    const args = [String(options.delayUs)];
    while (learnedAt.length < total && performance.now() < deadline) {
      learnedAt.push(await (impl === 'pidvisor' ? pidvisorExit : childProcessExit)(options.stampProgram, args, fd));
    }
    const stamps = readStamps(fd, learnedAt.length);
    return learnedAt.slice(options.warmup).map((learned, i) => Number(learned - stamps[i + options.warmup]!));
  } finally {
    fs.closeSync(fd);
  }
}

async function pidvisorExit(program: string, args: string[], fd: number): Promise<bigint> {
  const child = spawn({ command: program, args, stdio: ['null', { fd }, 'null'] });
  return child.wait().then(() => process.hrtime.bigint());
}

function childProcessExit(program: string, args: string[], fd: number): Promise<bigint> {
  return new Promise((resolve, reject) => {
    const child = childProcess.spawn(program, args, { stdio: ['ignore', fd, 'ignore'] });
    child.once('error', reject);
    child.once('exit', () => resolve(process.hrtime.bigint()));
  });
}

function readStamps(fd: number, count: number): bigint[] {
  const buffer = Buffer.alloc(count * 8);
  const got = fs.readSync(fd, buffer, 0, buffer.length, 0);
  if (got !== buffer.length) throw new Error(`exit-stamp: expected ${count} stamps, the file holds ${got / 8}`);
  return Array.from({ length: count }, (_, i) => buffer.readBigInt64LE(i * 8));
}
