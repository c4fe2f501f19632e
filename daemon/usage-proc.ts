// The reads behind a resource-usage sample: /proc/PID/stat, /proc/PID/fd and an instance
// cgroup's cpu.stat, memory.current and cgroup.procs. Read-only and for display: a pid reused
// between two reads only makes one sample wrong, it never reaches a process.
import fs from 'node:fs';
import path from 'node:path';

/** What one process's /proc/PID/stat says (fields 4, 5, 14-17, 20, 24 of proc(5)). */
export interface ProcStat {
  ppid: number;
  pgrp: number;
  /** utime + stime + cutime + cstime: its own CPU and that of the children it reaped, in µs. */
  cpuUsec: number;
  threads: number;
  rssBytes: number;
}

// /proc counts CPU in USER_HZ ticks, 100 per second on every architecture Node runs on
// (only alpha and ia64 differ); sysconf(_SC_CLK_TCK) reports this constant, not the kernel's HZ.
const USEC_PER_TICK = 10_000;
const AT_PAGESZ = 6n;

let pageSize: number | undefined;

// One buffer for every read of a pass: fs.readFileSync also fstat()s each file and allocates
// a buffer for it, which made it twice as slow on these small /proc and cgroup files.
let scratch = Buffer.allocUnsafe(16 * 1024);

/** A small kernel file's text (open, read, close), or null when it cannot be opened or read. */
export function readSmallFile(file: string): string | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    let length = 0;
    for (;;) {
      if (length === scratch.length) scratch = Buffer.concat([scratch, Buffer.allocUnsafe(scratch.length)]);
      const read = fs.readSync(fd, scratch, length, scratch.length - length, null);
      if (read === 0) break;
      length += read;
    }
    return scratch.toString('latin1', 0, length);
  } catch {
    return null; // a process that exited between open and read (ESRCH)
  } finally {
    fs.closeSync(fd);
  }
}

/** The kernel's page size (4 KiB on x86-64; 16 or 64 KiB on some arm64 kernels), from the auxiliary vector. */
export function systemPageSize(): number {
  if (pageSize === undefined) {
    pageSize = 4096;
    const auxv = fs.readFileSync('/proc/self/auxv');
    for (let offset = 0; offset + 16 <= auxv.length; offset += 16) {
      if (auxv.readBigUInt64LE(offset) === AT_PAGESZ) pageSize = Number(auxv.readBigUInt64LE(offset + 8));
    }
  }
  return pageSize;
}

/** The process's stat, or null once it is gone. comm may hold spaces and ')': fields count from the last ')'. */
export function readProcStat(pid: number): ProcStat | null {
  const text = readSmallFile(`/proc/${pid}/stat`);
  if (text === null) return null;
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): field n is f[n - 3].
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return { ppid: Number(f[1]), pgrp: Number(f[2]), cpuUsec: ticks * USEC_PER_TICK, threads: Number(f[17]), rssBytes: Number(f[21]) * systemPageSize() };
}

/**
 * The number of open fds of the process, or null when it is gone or not ours to look at
 * (another user's, or not dumpable). Since Linux 6.2 the size stat() gives /proc/PID/fd is
 * that number, one syscall; before, the directory is listed.
 */
export function countFds(pid: number): number | null {
  try {
    const size = fs.statSync(`/proc/${pid}/fd`).size;
    if (size > 0 || fdSizeIsCount) return size;
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

// Whether stat(/proc/PID/fd).st_size counts the fds (Linux 6.2): our own fd table is never
// empty, so a size of 0 for ourselves means an older kernel.
const fdSizeIsCount = (() => {
  try {
    return fs.statSync('/proc/self/fd').size > 0;
  } catch {
    return false;
  }
})();

/** Every process on the machine with its stat: one readdir of /proc, one read per process. */
export function scanProc(): Map<number, ProcStat> {
  const all = new Map<number, ProcStat>();
  for (const name of fs.readdirSync('/proc')) {
    const first = name.charCodeAt(0);
    if (first < 48 || first > 57) continue; // not a pid
    const stat = readProcStat(Number(name));
    if (stat !== null) all.set(Number(name), stat);
  }
  return all;
}

/** Sub-cgroups deeper than this are not walked: a sample must stay bounded. */
const MAX_CGROUP_DEPTH = 8;

/** The pids in the cgroup and its sub-cgroups; empty once it is removed. */
export function cgroupPids(dir: string, depth = 0): number[] {
  const procs = readSmallFile(path.join(dir, 'cgroup.procs'));
  if (procs === null) return [];
  let entries: fs.Dirent[] = [];
  try {
    // A cgroup directory's link count is 2 + its sub-cgroups (kernfs): a stat, about a fifth
    // of what listing the directory costs, settles the usual case of none.
    if (depth < MAX_CGROUP_DEPTH && fs.statSync(dir).nlink > 2) entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return []; // removed meanwhile
  }
  const pids = procs.split('\n').filter(Boolean).map(Number);
  for (const entry of entries) if (entry.isDirectory()) pids.push(...cgroupPids(path.join(dir, entry.name), depth + 1));
  return pids;
}

/**
 * The cgroup's CPU time in µs (cpu.stat usage_usec: every task that ever ran in it or below,
 * exact to the µs). cgroup v2 keeps these base stats in every cgroup, whether or not the cpu
 * controller is enabled. Null when the file cannot be read.
 */
export function readCgroupCpuUsec(dir: string): number | null {
  const text = readSmallFile(path.join(dir, 'cpu.stat'));
  const match = text === null ? null : /^usage_usec (\d+)$/m.exec(text);
  return match === null ? null : Number(match[1]);
}

/**
 * The cgroup's memory.current in bytes (everything charged to it: anonymous memory, page
 * cache, kernel memory), or null where the cgroup v2 memory controller is off for it (no
 * such file: on this kind of machine memory is bound to cgroup v1).
 */
export function readCgroupMemory(dir: string): number | null {
  // Whether the controller is on is the parent's choice (its cgroup.subtree_control), the same
  // for every instance cgroup of a daemon: a failed open is not paid again for each one.
  const parent = path.dirname(dir);
  if (withoutMemory.has(parent)) return null;
  const text = readSmallFile(path.join(dir, 'memory.current'));
  if (text === null) {
    if (!fs.existsSync(path.join(dir, 'memory.current')) && fs.existsSync(dir)) withoutMemory.add(parent);
    return null;
  }
  const bytes = Number(text.trim());
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** Parents whose instance cgroups have no memory.current (the controller is off there). */
const withoutMemory = new Set<string>();
