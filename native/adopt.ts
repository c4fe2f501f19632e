// adopt(): take hold of a running process we did not spawn in this life (after a daemon
// restart, say), refusing it when its pid now names a different process.
import type { RawErrnoError } from './binding.js';
import { binding } from './load.js';
import { ProcessIdentityError, SystemError } from './errors.js';
import { instanceOf, ProcessRef } from './process-ref.js';

/**
 * Opens a pidfd for `pid` and checks that it is the instance recorded earlier (its pidfs
 * inode; the start time alone collides on immediate reuse). Throws ProcessIdentityError when
 * the pid was recycled, SystemError ESRCH when no such process exists.
 */
export function adopt(pid: number, expectedInstance: string, options: { watch?: boolean } = {}): ProcessRef {
  if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
  let handle;
  try {
    handle = binding.openProcess(pid);
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
  // The pidfd pins the process: whatever it names now, it names for good, so one check suffices.
  const found = instanceOf(handle);
  if (found !== expectedInstance) {
    handle.close();
    throw new ProcessIdentityError(pid, expectedInstance, found);
  }
  return new ProcessRef(handle, { watch: options.watch ?? true });
}
