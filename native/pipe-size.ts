// The capacity of a pipe, for log capture: the default 64 KiB lets a child writing at full
// speed run only one read ahead of the daemon, so every pause of the event loop stalls it.
import type { RawErrnoError } from './binding.js';
import { SystemError } from './errors.js';
import { binding } from './load.js';

/**
 * Makes the pipe behind `fd` hold at least `bytes` (fcntl F_SETPIPE_SZ; the kernel rounds up
 * to a power of two pages) and returns its new capacity. Throws SystemError: EPERM past
 * /proc/sys/fs/pipe-max-size or the user's pipe-user-pages-soft without CAP_SYS_RESOURCE,
 * EBUSY when the pipe holds more than `bytes`, EBADF for what is not a pipe.
 */
export function setPipeSize(fd: number, bytes: number): number {
  try {
    return binding.setPipeSize(fd, bytes);
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
}
