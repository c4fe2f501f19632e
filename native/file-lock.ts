// An exclusive flock(2) on an open file, without blocking (Node has no flock).
import type { RawErrnoError } from './binding.js';
import { SystemError } from './errors.js';
import { binding } from './load.js';

/**
 * Takes flock(LOCK_EX | LOCK_NB) on `fd`: true once held, false when another open file
 * holds it. The kernel releases it when the last fd on this open file closes, including at
 * the death of the process. Throws SystemError for anything else (EBADF, ENOLCK).
 */
export function tryLockExclusive(fd: number): boolean {
  try {
    return binding.tryLockExclusive(fd);
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
}
