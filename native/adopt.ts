// Taking hold of running processes we did not spawn in this life: after a daemon restart,
// from a pid file, or as a subreaper. Only a pidfd is kept; the pid is never used again.
import type { RawErrnoError, RawProcessHandle } from './binding.js';
import { binding } from './load.js';
import { ProcessIdentityError, SystemError } from './errors.js';
import { instanceOf, ProcessRef } from './process-ref.js';

/**
 * A reference to whatever process `pid` names now (pidfd_open). Read its `instance` and keep
 * that, not the pid: `adopt()` later refuses a pid that has been reused since.
 */
export function openProcess(pid: number, options: { watch?: boolean } = {}): ProcessRef {
  return new ProcessRef(openHandle(pid), { watch: options.watch ?? false });
}

/**
 * Opens `pid` and checks that it is still `expectedInstance` (pid and pidfs inode; the start
 * time alone collides on immediate reuse). Throws ProcessIdentityError when the pid was
 * recycled, SystemError ESRCH when no process has it. Watches the exit unless told not to:
 * the status comes from waitid if the process is (or becomes) our child, else from
 * PIDFD_INFO_EXIT after its parent reaps it (Linux 6.15; before, `known` is false).
 */
export function adopt(pid: number, expectedInstance: string, options: { watch?: boolean } = {}): ProcessRef {
  const handle = openHandle(pid);
  // The pidfd pins the process: whatever it names now, it names for good, so one check suffices.
  const found = instanceOf(handle);
  if (found !== expectedInstance) {
    handle.close();
    throw new ProcessIdentityError(pid, expectedInstance, found);
  }
  return new ProcessRef(handle, { watch: options.watch ?? true });
}

function openHandle(pid: number): RawProcessHandle {
  if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
  try {
    return binding.openProcess(pid);
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
}
