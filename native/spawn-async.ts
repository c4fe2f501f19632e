// spawnAsync(): spawn() whose clone runs on a thread of the addon (native/src/spawn_async.cc),
// for callers that must not stall the event loop: CLONE_VFORK suspends the thread that clones
// until the child has exec'd, which on a busy machine takes 0.1-0.25 s, and exec probes start
// a child every few milliseconds. Each request is handled exactly as spawn() would handle it
// (validation, fd plan, cgroup, watch, errors); only the thread of the clone differs.
import fs from 'node:fs';
import type { RawClonedChild, RawErrnoError } from './binding.js';
import { binding } from './load.js';
import { SpawnError } from './errors.js';
import { buildRequest, ChildProcess, FdPlan, openCgroup, spawnArgs, type SpawnOptions } from './spawn.js';

/**
 * Starts a child as spawn(options) would, without suspending the calling thread while the
 * child loads its program. Resolves once the child's execve() has passed its point of no
 * return and the child is watched; rejects with the SpawnError spawn() would have thrown, and
 * then leaves nothing behind (no process, no zombie, no fd).
 *
 * `parentDeathSignal` is refused (stage `options`): that signal follows the thread that
 * clones, and the clone threads are not the caller's.
 */
export function spawnAsync(options: SpawnOptions): Promise<ChildProcess> {
  return new Promise<ChildProcess>((resolve, reject) => {
    if (options?.parentDeathSignal !== undefined) {
      throw SpawnError.invalid(options.command, 'parentDeathSignal follows the thread that clones: use spawn()');
    }
    const request = buildRequest(options);
    const fds = new FdPlan(options.command);
    let cgroupFd = -1;
    // The fds the request names (pipe ends, /dev/null, the cgroup directory) are read by the
    // child until its exec: they stay open until the callback.
    const release = (): void => {
      fds.closeAll();
      if (cgroupFd >= 0) fs.closeSync(cgroupFd);
    };
    const done = (error: RawErrnoError | null, cloned?: RawClonedChild): void => {
      try {
        if (error !== null) reject(SpawnError.fromNative(error, options.command));
        else resolve(new ChildProcess(request, fds, options.beforeReap, cloned));
      } catch (taken) {
        // The child could not be watched: ChildProcess has killed and reaped it.
        reject(taken instanceof Error ? SpawnError.fromNative(taken as RawErrnoError, options.command) : taken);
      } finally {
        release();
      }
    };
    try {
      request.fds = fds.build(options.stdio ?? ['null', 'inherit', 'inherit'], options.extraFds ?? []);
      if (options.cgroup !== undefined) cgroupFd = openCgroup(options.command, options.cgroup);
      request.cgroupFd = cgroupFd;
      binding.spawnAsync(spawnArgs(request), done);
    } catch (error) {
      release();
      if (error instanceof SpawnError || !(error instanceof Error)) throw error;
      throw SpawnError.fromNative(error as RawErrnoError, options.command);
    }
  });
}
