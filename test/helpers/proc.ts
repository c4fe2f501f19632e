// Reading the real state of processes from /proc, and waiting without fixed sleeps.
import fs from 'node:fs';

/** Polls `condition` every `intervalMs` until it returns true or `timeoutMs` passes. */
export async function pollUntil(condition: () => boolean, timeoutMs = 5000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (condition()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Polls an async condition every 20 ms until it resolves true, or throws after `timeoutMs`
 * naming `what`. A condition that throws or rejects counts as not yet met: a daemon that is
 * still starting or taking over refuses connections for a while.
 */
export async function pollUntilAsync(condition: () => Promise<boolean> | boolean, timeoutMs = 10_000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await Promise.resolve().then(condition).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Blocks until `pid` (a `sleep`) sits in nanosleep, or throws after `timeoutMs`.
 *
 * spawn() returns once the child's execve() has passed the point of no return: the kernel
 * releases a CLONE_VFORK parent in exec_mmap(), before load_elf_binary() has set the argv and
 * environ bounds and the comm name, and before the dynamic loader has opened (and closed) the
 * program's libraries. In that window /proc/<pid>/cmdline reads empty (about 1 spawn in 10 on a
 * busy machine) and the fd table holds the loader's files, so tests that read them wait for the
 * program to reach its sleep first.
 */
export function waitUntilAsleep(pid: number, timeoutMs = 5000): void {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (!fs.readFileSync(`/proc/${pid}/wchan`, 'utf8').includes('nanosleep')) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not reach its sleep within ${timeoutMs} ms`);
    Atomics.wait(pause, 0, 0, 1);
  }
}

/** Fields of /proc/<pid>/status as a map ("SigIgn" -> "0000000000000000"). */
export function procStatus(pid: number | 'self'): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

/** /proc/<pid>/stat fields after the command name: [0] is the state, [1] ppid, [2] pgrp, [3] session. */
export function procStat(pid: number): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).trim().split(' ');
}

/** Whether `pid` names a process that has not exited (a zombie has). Reads /proc only. */
export function isRunning(pid: number): boolean {
  try {
    return procStat(pid)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Whether `pid` is a zombie: exited, not yet reaped by its parent. False once it is gone. */
export function isZombie(pid: number): boolean {
  try {
    return procStat(pid)[0] === 'Z';
  } catch {
    return false;
  }
}

/** How many pidfds `pid` holds open (the keeper keeps one per deposited process). */
export function pidfdsHeldBy(pid: number): number {
  return fdTargets(pid).filter((target) => target === 'anon_inode:[pidfd]').length;
}

/** What each of the process's fds points to (/proc/<pid>/fd links); an fd closed meanwhile is left out. */
export function fdTargets(pid: number): string[] {
  return fs.readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      return [fs.readlinkSync(`/proc/${pid}/fd/${fd}`)];
    } catch {
      return []; // closed meanwhile
    }
  });
}

/** Every process below `pid`, deepest first (from /proc/<pid>/task/<pid>/children). */
export function descendants(pid: number): number[] {
  let children: number[];
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [...descendants(child), child]);
}

/** SIGKILL to `pid` and everything below it, deepest first; gone ones are skipped. */
export function killTree(pid: number): void {
  for (const target of [...descendants(pid), pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}

/** Pids of zombies whose parent is `parent` (default: this process). */
export function zombieChildren(parent = process.pid): number[] {
  const zombies: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const [state, ppid] = procStat(Number(entry));
      if (state === 'Z' && Number(ppid) === parent) zombies.push(Number(entry));
    } catch {
      // the process went away while we looked
    }
  }
  return zombies;
}

/**
 * Pids of the live (not zombie) children of `parent`, from /proc/<parent>/task/<tid>/children:
 * a child is listed under the thread that cloned it (spawnMany clones on several threads).
 */
export function liveChildren(parent: number = process.pid): number[] {
  const children: number[] = [];
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${parent}/task`);
  } catch {
    return []; // the parent is gone
  }
  for (const tid of tasks) {
    let list = '';
    try {
      list = fs.readFileSync(`/proc/${parent}/task/${tid}/children`, 'utf8');
    } catch {
      continue; // the thread ended while we looked
    }
    for (const pid of list.split(' ').filter(Boolean).map(Number)) if (isRunning(pid)) children.push(pid);
  }
  return children.sort((a, b) => a - b);
}

/** The fds open in a process, sorted. */
export function openFds(pid: number | 'self' = 'self'): number[] {
  return fs
    .readdirSync(`/proc/${pid}/fd`)
    .map(Number)
    .sort((a, b) => a - b);
}

/** The open-file flags of one of this process's fds, from /proc/self/fdinfo (octal). */
export function fdFlags(fd: number, pid: number | 'self' = 'self'): number {
  const info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
  const match = /^flags:\s+([0-7]+)/m.exec(info);
  if (match === null) throw new Error(`no flags in fdinfo of fd ${fd}`);
  return parseInt(match[1]!, 8);
}

export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

/** Resident set size of this process in bytes, from /proc/self/statm. */
export function rssBytes(): number {
  const pages = Number(fs.readFileSync('/proc/self/statm', 'utf8').split(' ')[1]);
  return pages * 4096;
}

export function isRoot(): boolean {
  return process.geteuid?.() === 0;
}

/** Whether a process ignores a signal now (its SigIgn mask in /proc), e.g. after `trap '' TERM`. */
export function ignoresSignal(pid: number, signal: number): boolean {
  try {
    return (BigInt(`0x${procStatus(pid).get('SigIgn') ?? '0'}`) & (1n << BigInt(signal - 1))) !== 0n;
  } catch {
    return false;
  }
}

/** Whether a process has a handler for a signal now (its SigCgt mask in /proc), e.g. after `trap ... TERM`. */
export function catchesSignal(pid: number, signal: number): boolean {
  try {
    return (BigInt(`0x${procStatus(pid).get('SigCgt') ?? '0'}`) & (1n << BigInt(signal - 1))) !== 0n;
  } catch {
    return false;
  }
}

/**
 * Writes `text` to a child's stdin pipe, closes it, and resolves with all the child wrote to
 * its stdout pipe until EOF: for a child such as `cat` that echoes its input.
 */
export async function echoThroughPipes(child: { stdin: NodeJS.WritableStream | null; stdout: NodeJS.ReadableStream | null }, text: string): Promise<string> {
  const chunks: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => child.stdout!.on('end', resolve));
  child.stdin!.end(text);
  await ended;
  return Buffer.concat(chunks).toString();
}
