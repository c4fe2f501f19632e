// dup of an fd, for what cannot be opened again through /proc/self/fd (a socket: ENXIO).
import type { RawErrnoError } from './binding.js';
import { SystemError } from './errors.js';
import { binding } from './load.js';

/**
 * A new close-on-exec fd on the same open file as `fd` (fcntl F_DUPFD_CLOEXEC), owned by the
 * caller. Throws SystemError (EBADF, EMFILE).
 */
export function dupFd(fd: number): number {
  try {
    return binding.dupFd(fd);
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
}
