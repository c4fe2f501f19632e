// What the bench reads from /proc about processes it started (or that its peers started for
// it): resident memory, whether a pid is gone, and what it runs. Nothing here signals.
import fs from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** VmRSS of a process, in bytes (NaN when it is gone). */
export function rssBytes(pid: number): number {
  return statusField(pid, 'VmRSS');
}

function statusField(pid: number, field: string): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    return match === null ? Number.NaN : Number(match[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}

/** 'gone' once the pid has no process, or only a zombie its parent has not reaped yet ('zombie'). */
export function processState(pid: number): 'alive' | 'zombie' | 'gone' {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 'gone';
  }
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state === 'Z' || state === 'X' ? 'zombie' : 'alive';
}

/** The program name (comm) of a live process, or null. */
export function commOf(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** How many of `pids` run `comm` (e.g. all 200 exec'd `sleep`). */
export function countRunning(pids: readonly number[], comm: string): number {
  let count = 0;
  for (const pid of pids) if (processState(pid) === 'alive' && commOf(pid) === comm) count++;
  return count;
}

/**
 * Polls until none of `pids` is left, not even as a zombie (a zombie is still in its
 * supervisor's table). Resolves with how many were still there at the deadline (0: all gone).
 */
export async function waitAllGone(pids: readonly number[], timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let left = pids.filter((pid) => processState(pid) !== 'gone');
  while (left.length > 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    left = left.filter((pid) => processState(pid) !== 'gone');
  }
  return left.length;
}

/** Resolves once a unix socket accepts a connection; throws after `timeoutMs`. */
export async function waitForSocket(socketPath: string, timeoutMs: number, isDead: () => string | null = () => null): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const dead = isDead();
    if (dead !== null) throw new Error(dead);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(socketPath);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (performance.now() >= deadline) throw new Error(`nothing accepted connections on ${socketPath} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls `check` until it returns a value other than null; throws after `timeoutMs`. */
export async function pollFor<T>(what: string, timeoutMs: number, check: () => T | null, intervalMs = 50): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== null) return value;
    if (performance.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux architecture node runs on

/** CPU time (user + system) a process has used, in seconds (NaN when it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}
