// The C baselines: compiled from bench/c/ with `cc` (or $CC) into bench/.out/ at every run,
// then run as separate processes with their own count and time bounds.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { C_PROGRAMS, cSourceDir, outDir, programPath, type CProgram } from './paths.js';
import type { RateSample } from './spawn-loops.js';

const CFLAGS = ['-O2', '-Wall', '-Wextra'];
// Static where possible: 10,000 copies of a static `block` each cost a few private pages.
const STATIC_FIRST: ReadonlySet<CProgram> = new Set(['block']);

export function buildCPrograms(): void {
  fs.mkdirSync(outDir, { recursive: true });
  const cc = process.env.CC ?? 'cc';
  for (const name of C_PROGRAMS) {
    const args = [...CFLAGS, '-o', programPath(name), path.join(cSourceDir, `${name}.c`)];
    if (STATIC_FIRST.has(name) && tryCompile(cc, ['-static', ...args])) continue;
    execFileSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  }
}

function tryCompile(cc: string, args: string[]): boolean {
  try {
    execFileSync(cc, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** One timed posix_spawn loop; `width` 1 is sequential, more keeps that many in flight. */
export function posixSpawnRate(width: number, count: number, warmup: number, maxSeconds: number): RateSample {
  const mode = width === 1 ? 'seq' : `inflight:${width}`;
  const output = runBounded('posix-spawn-loop', [mode, String(count), String(warmup), String(maxSeconds)], maxSeconds * 2 + 10);
  const [rate, completed, seconds] = output.trim().split(/\s+/).map(Number);
  if (rate === undefined || completed === undefined || seconds === undefined || !Number.isFinite(rate)) {
    throw new Error(`posix-spawn-loop printed ${JSON.stringify(output)}`);
  }
  return { rate, completed, seconds, capped: completed < count };
}

/** Exit-detection latencies (ns) of the C epoll-on-pidfd parent, warmups excluded. */
export function epollPidfdLatencies(
  samples: number,
  warmup: number,
  delayUs: number,
  maxSeconds: number,
  stampFile: string,
): number[] {
  const args = [String(samples), String(warmup), String(maxSeconds), programPath('exit-stamp'), String(delayUs), stampFile];
  const output = runBounded('pidfd-epoll-latency', args, maxSeconds + 10);
  return output.split('\n').filter((line) => line !== '').map(Number);
}

function runBounded(name: CProgram, args: string[], timeoutSeconds: number): string {
  return execFileSync(programPath(name), args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: timeoutSeconds * 1000,
    killSignal: 'SIGKILL',
  });
}
