// The processes of a service's tree as /proc shows them now, for people to look at (`pidvisor
// show`): never used to signal anything, so a pid that is reused between two reads only makes
// one listing wrong, never hurts a process.
//   cgroup:  every pid in the instance's cgroup (and its sub-cgroups), whatever it did;
//   group:   every process in the group the main process leads (setsid/setpgid escape it);
//   process: the main process and its descendants by parent pid (orphans are re-parented away).
import fs from 'node:fs';
import path from 'node:path';
import type { KillMode } from './definition.js';

export interface ListedProcess {
  pid: number;
  ppid: number;
  /** The argv from /proc/PID/cmdline; `[comm]` for a zombie or a process whose argv is gone. */
  command: string[];
}

interface ProcStat {
  ppid: number;
  pgrp: number;
  comm: string;
}

/** Sub-cgroups deeper than this are not walked: a listing must stay bounded. */
const MAX_CGROUP_DEPTH = 8;

export function listTree(mode: KillMode, mainPid: number | null, cgroupDir: string | null): ListedProcess[] {
  const pids = mode === 'cgroup' && cgroupDir !== null ? cgroupPids(cgroupDir, 0) : mainPid === null ? [] : selectFromProc(mode, mainPid);
  const listed: ListedProcess[] = [];
  for (const pid of [...new Set(pids)].sort((a, b) => a - b)) {
    const stat = readStat(pid);
    if (stat !== null) listed.push({ pid, ppid: stat.ppid, command: readCommand(pid, stat.comm) });
  }
  return listed;
}

function cgroupPids(dir: string, depth: number): number[] {
  let entries: fs.Dirent[];
  let procs: string;
  try {
    procs = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8');
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return []; // removed with its instance meanwhile: nothing in it
  }
  const pids = procs.split('\n').filter(Boolean).map(Number);
  if (depth < MAX_CGROUP_DEPTH) for (const entry of entries) if (entry.isDirectory()) pids.push(...cgroupPids(path.join(dir, entry.name), depth + 1));
  return pids;
}

function selectFromProc(mode: KillMode, mainPid: number): number[] {
  const all = new Map<number, ProcStat>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat !== null) all.set(Number(name), stat);
  }
  if (mode === 'group') return [...all].filter(([, stat]) => stat.pgrp === mainPid).map(([pid]) => pid);
  const tree = new Set<number>(all.has(mainPid) ? [mainPid] : []);
  // Parents before children is not guaranteed by pid order (pids wrap): repeat until no change, bounded by the count.
  for (let round = 0, grew = true; grew && round < all.size; round++) {
    grew = false;
    for (const [pid, stat] of all) {
      if (!tree.has(pid) && tree.has(stat.ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

/** ppid, pgrp and comm from /proc/PID/stat; comm may hold spaces and parentheses, so fields are counted from the last ')'. */
function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // gone since it was listed
  }
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  return { ppid: Number(fields[1]), pgrp: Number(fields[2]), comm: text.slice(text.indexOf('(') + 1, close) };
}

function readCommand(pid: number, comm: string): string[] {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (argv.at(-1) === '') argv.pop();
    if (argv.length > 0) return argv;
  } catch {
    // gone since its stat was read
  }
  return [`[${comm}]`];
}
