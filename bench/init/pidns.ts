// Running a program as PID 1 of a new PID namespace, and finding it from the host side.
// `unshare --pid --fork --mount-proc` forks: its child enters the namespace as PID 1 and
// execs the program. --kill-child gives that child SIGKILL as its parent-death signal, so
// killing unshare (the process the bench starts) ends the whole namespace.
import fs from 'node:fs';
import { settings } from './config.js';

export function asPid1(argv: readonly string[]): string[] {
  return [settings.unshare, '--pid', '--fork', '--mount-proc', '--kill-child', ...argv];
}

/** The children of every thread of `pid` (a process's children hang off the thread that forked). */
export function childrenOf(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const children = new Set<number>();
  for (const tid of tasks) {
    try {
      for (const child of fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) {
        if (child !== '') children.add(Number(child));
      }
    } catch {
      // the thread or the process ended meanwhile
    }
  }
  return [...children];
}

export function commOf(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

export const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls every `stepMs` until `find` returns a value, or gives up after `timeoutMs` (null).
 * Bounded: at most timeoutMs / stepMs + 1 attempts.
 */
export async function pollFor<T>(find: () => T | null, timeoutMs: number, stepMs = 10): Promise<T | null> {
  const attempts = Math.ceil(timeoutMs / stepMs) + 1;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const found = find();
    if (found !== null) return found;
    await sleepMs(stepMs);
  }
  return null;
}

/**
 * The namespace's PID 1 once it runs the expected program (its comm is no longer unshare's,
 * which it keeps between fork and exec), and the main command among its children.
 */
export async function findInitAndCommand(unsharePid: number, commandComm: string, timeoutMs: number): Promise<{ init: number; command: number } | null> {
  return pollFor(() => {
    const init = childrenOf(unsharePid)[0];
    if (init === undefined || commOf(init) === 'unshare') return null;
    const command = childrenOf(init).find((pid) => commOf(pid) === commandComm);
    return command === undefined ? null : { init, command };
  }, timeoutMs);
}
