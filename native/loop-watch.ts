// Stops the event loop from watching an fd without closing it (native/src/loop_watch.h says why:
// a daemon handing over must stop accepting on a listening socket that stays open).
import type { RawErrnoError } from './binding.js';
import { SystemError } from './errors.js';
import { binding } from './load.js';

/**
 * Removes `fd` from this thread's libuv epoll set: libuv is never woken for it again, so a
 * listening socket accepts nothing more and its connections wait in its backlog. For a process
 * about to exit only. Throws SystemError (ENOENT: not watched; EBADF).
 */
export function stopWatchingFd(fd: number): void {
  try {
    binding.stopWatchingFd(fd);
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
}
