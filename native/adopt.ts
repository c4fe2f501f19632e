// Taking hold of running processes we did not spawn in this life: after a daemon restart,
// from a pid file, or as a subreaper. Only a pidfd is kept; the pid is never used again.
import type { RawErrnoError } from './binding.js';
import { ProcessIdentityError, SystemError } from './errors.js';
import { ProcessRef, START_WATCH } from './process-ref.js';
import { OP_OPEN } from './raw-keys.js';

/**
 * A reference to whatever process `pid` names now (pidfd_open). Read its `instance` and keep
 * that, not the pid: `adopt()` later refuses a pid that has been reused since.
 */
export function openProcess(pid: number, options: { watch?: boolean } = {}): ProcessRef {
  return watched(open(pid), options.watch ?? false);
}

/**
 * Opens `pid` and checks that it is still `expectedInstance` (pid and pidfs inode; the start
 * time alone collides on immediate reuse). Throws ProcessIdentityError when the pid was
 * recycled, SystemError ESRCH when no process has it. Watches the exit unless told not to:
 * the status comes from waitid if the process is (or becomes) our child, else from
 * PIDFD_INFO_EXIT after its parent reaps it (Linux 6.15; before, `known` is false).
 */
export function adopt(pid: number, expectedInstance: string, options: { watch?: boolean } = {}): ProcessRef {
  return heldIfInstance(open(pid), expectedInstance, options.watch ?? true);
}

/**
 * `ref` if it is `expectedInstance`, watched when asked; otherwise it is closed and
 * ProcessIdentityError thrown. Its pidfd pins the process: whatever it names now, it names
 * for good, so one check suffices. Shared by every way of taking hold of a process again
 * (by pid here, by pidfs handle or a keeper's pidfd in pidfs-handle.ts).
 */
export function heldIfInstance(ref: ProcessRef, expectedInstance: string, watch: boolean): ProcessRef {
  const found = ref.instance;
  if (found !== expectedInstance) {
    ref.close();
    throw new ProcessIdentityError(ref.pid, expectedInstance, found);
  }
  return watched(ref, watch);
}

function open(pid: number): ProcessRef {
  if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
  try {
    return new ProcessRef(OP_OPEN, pid);
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
}

function watched(ref: ProcessRef, watch: boolean): ProcessRef {
  if (!watch) return ref;
  try {
    ref[START_WATCH]();
  } catch (error) {
    ref.close();
    throw SystemError.from(error as RawErrnoError);
  }
  return ref;
}
