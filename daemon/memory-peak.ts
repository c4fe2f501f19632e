// The peak memory of an ended instance: the instance's own figure, or none with the reason.
//
// The kernel's ru_maxrss is not the child's own for a child spawned the vfork way (CLONE_VM,
// as native/ spawns, and as posix_spawn does): execve takes the maximum of the task's maxrss
// and the high-water RSS of the memory it leaves (fs/exec.c, exec_mmap:
// setmax_mm_hiwater_rss), and that memory is the daemon's. A `sleep` showed 72 MB, the
// daemon's RSS (GNU time: 1.7 MB). So the figure comes from, in order:
// 1. the instance cgroup's memory.peak (Linux 5.19), where the cgroup v2 memory controller is
//    enabled for it: the peak of the whole tree, page cache included;
// 2. ru_maxrss when it is above the daemon's own peak RSS read after the spawn returned. The
//    daemon's peak only grows, so it was no higher when the child exec'd, and max(daemon,
//    child) above the daemon's is the child's (or that of a descendant it reaped);
// 3. nothing (null), with the reason.
import fs from 'node:fs';
import path from 'node:path';
import type { ProcessExit, ResourceUsage } from '../native/index.js';

export type MaxRssSource = 'memory.peak' | 'ru_maxrss';

export interface InstanceUsage {
  userCpuMicros: number;
  systemCpuMicros: number;
  /** The instance's peak memory in KiB, or null when no figure is the instance's own. */
  maxRssKiB: number | null;
  /** Where maxRssKiB comes from; null with it. */
  maxRssSource: MaxRssSource | null;
  /** Why maxRssKiB is null; null when it is known. */
  maxRssUnavailable: string | null;
}

/** What is known at spawn time for instanceUsage(). */
export interface SpawnMemoryContext {
  /** The daemon's own peak RSS in KiB, read after the spawn returned (daemonPeakRssKiB()). */
  daemonPeakKiB: number;
  /** The instance's own cgroup, when it has one. */
  cgroupDir: string | null;
}

/** The daemon's peak RSS in KiB so far (getrusage(RUSAGE_SELF): one syscall, no /proc read). */
export function daemonPeakRssKiB(): number {
  return process.resourceUsage().maxRSS;
}

/**
 * The usage of an ended instance. Read while its cgroup still exists (before it is removed);
 * null when the kernel gave no rusage (a process we did not spawn).
 */
export function instanceUsage(rusage: ProcessExit['rusage'], spawn: SpawnMemoryContext): InstanceUsage | null {
  if (rusage === null) return null;
  const peak = spawn.cgroupDir === null ? { reason: NO_OWN_CGROUP } : cgroupMemoryPeak(spawn.cgroupDir);
  if ('kiB' in peak) return usage(rusage, peak.kiB, 'memory.peak', null);
  if (rusage.maxRssKiB > spawn.daemonPeakKiB) return usage(rusage, rusage.maxRssKiB, 'ru_maxrss', null);
  return usage(rusage, null, null, UNAVAILABLE_TEXTS.get(peak.reason) ?? `${peak.reason}${NOT_ABOVE_DAEMON_PEAK}`);
}

function usage(rusage: ResourceUsage, maxRssKiB: number | null, maxRssSource: MaxRssSource | null, maxRssUnavailable: string | null): InstanceUsage {
  // One literal, not `{ ...cpu, ... }`: a spread-built object got a hidden class of its own each
  // (~290 bytes), and the event log keeps the exit records of thousands of removed services.
  return { userCpuMicros: rusage.userCpuMicros, systemCpuMicros: rusage.systemCpuMicros, maxRssKiB, maxRssSource, maxRssUnavailable };
}

const NO_OWN_CGROUP = 'no cgroup of its own (kill mode is not cgroup)';
const NO_MEMORY_PEAK = 'no memory.peak in its cgroup (the cgroup v2 memory controller is off for it, or Linux < 5.19)';
const NOT_ABOVE_DAEMON_PEAK = ", and ru_maxrss is no higher than the daemon's own peak, which a vfork-style spawn carries into the child";
/** The usual texts, made once and shared by every exit record that gives them (not ~230 bytes each). */
const UNAVAILABLE_TEXTS = new Map([NO_OWN_CGROUP, NO_MEMORY_PEAK].map((reason) => [reason, `${reason}${NOT_ABOVE_DAEMON_PEAK}`]));

/**
 * Daemon subtrees whose children have no memory controller: enableMemoryController found it
 * unavailable there (only the daemon writes its subtree's cgroup.subtree_control). Their
 * instance cgroups have no memory.peak to read; a failed read on every exit cost an ENOENT
 * exception, a visible part of a short-lived launch.
 */
const memoryOffUnder = new Set<string>();

/** The cgroup's memory.peak in KiB, or why there is none. */
function cgroupMemoryPeak(dir: string): { kiB: number } | { reason: string } {
  if (memoryOffUnder.has(path.dirname(dir))) return { reason: NO_MEMORY_PEAK };
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, 'memory.peak'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { reason: NO_MEMORY_PEAK };
    }
    return { reason: `its cgroup's memory.peak could not be read (${(error as Error).message})` };
  }
  const bytes = Number(text.trim());
  if (!Number.isSafeInteger(bytes) || bytes < 0) return { reason: `its cgroup's memory.peak holds ${JSON.stringify(text.trim())}, not a byte count` };
  return { kiB: Math.ceil(bytes / 1024) };
}

/**
 * Enables the memory controller for the cgroups under `root` (the daemon's subtree), so each
 * instance cgroup gets memory.peak. Possible only where the parent delegates the controller
 * (`memory` in root's cgroup.controllers); the mount's root cgroup is never touched, as that is
 * the whole machine's choice. Returns why it is off, or null when it is on.
 */
export function enableMemoryController(root: string): string | null {
  const off = memoryControllerOff(root);
  if (off === null) memoryOffUnder.delete(path.resolve(root));
  else memoryOffUnder.add(path.resolve(root));
  return off;
}

function memoryControllerOff(root: string): string | null {
  try {
    const available = fs.readFileSync(path.join(root, 'cgroup.controllers'), 'utf8').split(/\s+/);
    if (!available.includes('memory')) return `the memory controller is not available in ${root} (not enabled in its parent's cgroup.subtree_control, or bound to cgroup v1)`;
    const enabled = fs.readFileSync(path.join(root, 'cgroup.subtree_control'), 'utf8').split(/\s+/);
    if (!enabled.includes('memory')) fs.writeFileSync(path.join(root, 'cgroup.subtree_control'), '+memory');
    return null;
  } catch (error) {
    return `the memory controller could not be enabled in ${root}: ${(error as Error).message}`;
  }
}
