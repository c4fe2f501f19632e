// spawnMany(): start a batch of children with their clones running in parallel, so that a
// supervisor starting 200 services at once is not serialised on the JS thread's clones.
// Each entry is handled exactly as spawn() would handle it (validation, fd plan, cgroup,
// watch, errors); only the clones overlap, on the calling thread and up to three helper
// threads of the addon (native/src/spawn_many.cc). Kept apart from spawn.ts, which it reuses.
import fs from 'node:fs';
import type { RawClonedChild, RawErrnoError, RawSpawnRequest } from './binding.js';
import { binding } from './load.js';
import { SpawnError } from './errors.js';
import { buildRequest, ChildProcess, FdPlan, inheritedEnvp, openCgroup, spawnArgs, type SpawnOptions } from './spawn.js';

/**
 * At most this many entries are handed to the addon at once. All of a chunk's fds (pipes,
 * cgroup directories) are open together until its children have exec'd, where a loop of
 * spawn() holds one entry's: chunks keep that to a few hundred fds, well below the usual
 * 1024 soft RLIMIT_NOFILE, for a barrier every few dozen clones that costs little. Chunks are
 * made equal (200 entries: 4 x 50, not 3 x 64 + 8), so no small last chunk runs on fewer
 * threads than the others.
 */
const MAX_CHUNK = 64;

/** One entry ready for the clone: it owns `fds` and `cgroupFd` until the chunk is done. */
interface Prepared {
  index: number;
  options: SpawnOptions;
  request: RawSpawnRequest;
  fds: FdPlan;
  cgroupFd: number;
}

/**
 * Starts every entry as spawn(entry) would, in input order, and returns each one's
 * ChildProcess or the Error spawn() would have thrown (a SpawnError with its code and stage,
 * or the TypeError of an entry that is not an object). A failed entry leaves nothing
 * behind: no process, no zombie, no fd; the others start regardless. Synchronous, like
 * spawn(): when it returns, every child has passed its execve() or failed, and every one
 * that started is watched.
 *
 * The clones run on min(entries, CPUs this process may use, 4) threads: the calling thread
 * and helper threads that live as long as the process. An entry with `parentDeathSignal` is
 * always cloned on the calling thread, whose death is the one that signal follows.
 */
export function spawnMany(list: readonly SpawnOptions[]): Array<ChildProcess | Error> {
  const results = new Array<ChildProcess | Error>(list.length);
  if (list.length === 0) return results;
  const chunk = Math.ceil(list.length / Math.ceil(list.length / MAX_CHUNK));
  for (let start = 0; start < list.length; start += chunk) {
    spawnChunk(list, start, Math.min(list.length, start + chunk), results);
  }
  return results;
}

function spawnChunk(list: readonly SpawnOptions[], start: number, end: number, results: Array<ChildProcess | Error>): void {
  const prepared: Prepared[] = [];
  // One copy of process.env for every entry without `env`: it cannot change during this call.
  let inherited: string | undefined;
  try {
    for (let index = start; index < end; index++) {
      const options = list[index]!;
      if (options?.env === undefined) inherited ??= inheritedEnvp();
      const entry = prepare(index, options, inherited);
      if (entry instanceof Error) results[index] = entry;
      else prepared.push(entry);
    }
    if (prepared.length === 0) return;
    let outcomes: ReturnType<typeof binding.spawnMany>;
    try {
      outcomes = binding.spawnMany(prepared.map((entry) => spawnArgs(entry.request)));
    } catch (error) {
      // Nothing was cloned (the child stack could not be mapped): every entry fails alike.
      outcomes = prepared.map(() => error as RawErrnoError);
    }
    prepared.forEach((entry, i) => {
      const outcome = outcomes[i]!;
      results[entry.index] =
        outcome instanceof Error ? SpawnError.fromNative(outcome, entry.options.command) : watch(outcome, entry);
    });
  } finally {
    for (const entry of prepared) release(entry);
  }
}

/** spawn()'s steps before the clone, for one entry: its error instead of a throw. */
function prepare(index: number, options: SpawnOptions, inherited: string | undefined): Prepared | Error {
  let fds: FdPlan | undefined;
  let cgroupFd = -1;
  try {
    const request = buildRequest(options, inherited);
    fds = new FdPlan(options.command);
    request.fds = fds.build(options.stdio ?? ['null', 'inherit', 'inherit'], options.extraFds ?? []);
    if (options.cgroup !== undefined) cgroupFd = openCgroup(options.command, options.cgroup);
    request.cgroupFd = cgroupFd;
    return { index, options, request, fds, cgroupFd };
  } catch (error) {
    release({ fds, cgroupFd });
    return error instanceof Error ? error : new Error(String(error));
  }
}

/**
 * spawn()'s steps after the clone: the ChildProcess takes the child over and watches it, or
 * kills and reaps it if it cannot.
 */
function watch(child: RawClonedChild, entry: Prepared): ChildProcess | Error {
  try {
    return new ChildProcess(entry.request, entry.fds, entry.options.beforeReap, child);
  } catch (error) {
    return error instanceof Error ? SpawnError.fromNative(error as RawErrnoError, entry.options.command) : new Error(String(error));
  }
}

function release(entry: { fds: FdPlan | undefined; cgroupFd: number }): void {
  entry.fds?.closeAll();
  if (entry.cgroupFd >= 0) fs.closeSync(entry.cgroupFd);
}
