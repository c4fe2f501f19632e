// Exit-detection latency inside Node: the child (exit-stamp) writes CLOCK_MONOTONIC just
// before _exit to fd 1, a file shared by all samples; the parent notes
// process.hrtime.bigint() (CLOCK_MONOTONIC as well) when it learns of the exit: when
// pidvisor's wait() resolves after the reap, or when child_process emits 'exit'. Children
// run one at a time, so the file holds their stamps in order.
//
// 'pidvisor-callback' is the floor under pidvisor's figure: the time is taken first thing in
// the addon's exit callback, entered from the exit poller by MakeCallback after the reap and
// the close of the pidfd, before any exit record or promise. What lies between it and C's
// figure is Node's entry into JS from a native callback; what lies between it and pidvisor's
// figure is the record, the promise and its reaction.
import childProcess from 'node:child_process';
import fs from 'node:fs';
import { spawn } from '../../native/index.js';
import { binding } from '../../native/load.js';
import type { Implementation } from './spawn-loops.js';

/** The exit-latency measurements taken inside Node. */
export type LatencyImplementation = Implementation | 'pidvisor-callback';

export interface LatencyOptions {
  samples: number;
  warmup: number;
  delayUs: number;
  maxSeconds: number;
  stampProgram: string;
  stampFile: string;
}

/** Latencies in nanoseconds, warmups excluded. */
export async function measureExitLatency(impl: LatencyImplementation, options: LatencyOptions): Promise<number[]> {
  const fd = fs.openSync(options.stampFile, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_APPEND, 0o600);
  try {
    const learnedAt: bigint[] = [];
    const total = options.samples + options.warmup;
    const deadline = performance.now() + options.maxSeconds * 1000;
    const args = [String(options.delayUs)];
    const once = impl === 'pidvisor' ? pidvisorExit : impl === 'child_process' ? childProcessExit : pidvisorCallbackExit();
    while (learnedAt.length < total && performance.now() < deadline) {
      learnedAt.push(await once(options.stampProgram, args, fd));
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

// Replaces the exit handler of this Node environment for good: the worker process that
// measures this does nothing else, and no ProcessRef of it ever learns of an exit.
function pidvisorCallbackExit(): (program: string, args: string[], fd: number) => Promise<bigint> {
  let learned: ((at: bigint) => void) | undefined;
  binding.setExitHandler(() => learned?.(process.hrtime.bigint()));
  return async (program, args, fd) => {
    const at = new Promise<bigint>((resolve) => (learned = resolve));
    const child = spawn({ command: program, args, stdio: ['null', { fd }, 'null'] });
    const learnedAt = await at;
    child.close(); // reaped and closed already: releases nothing but the reference
    return learnedAt;
  };
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
