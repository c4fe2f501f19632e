// pidfs file handles: how a process is named on disk so that a daemon started later can hold
// it again, and never a different process that got the same pid meanwhile (the handle is the
// pidfs inode, unique for the boot; a reaped process's handle opens nothing: ESTALE).
import fs from 'node:fs';
import type { RawErrnoError } from './binding.js';
import { heldIfInstance } from './adopt.js';
import { SystemError } from './errors.js';
import { binding } from './load.js';
import { ProcessRef } from './process-ref.js';
import { OP_PIDFD } from './raw-keys.js';

/** A pidfs file handle as stored: the kernel's handle type and its bytes in hex. */
export interface PidfsHandle {
  type: number;
  bytes: string;
}

/**
 * The pidfs file handle of a process we hold (name_to_handle_at; pidfs, Linux 6.9, file
 * handles 6.13). Throws SystemError (EOPNOTSUPP or EINVAL on older kernels).
 */
export function pidfsHandleOf(ref: ProcessRef): PidfsHandle {
  if (ref.pidfd < 0) throw new SystemError(`process ${ref.pid} is no longer held`, { code: 'ESRCH', errno: 3, syscall: 'name_to_handle_at' });
  try {
    const { type, bytes } = binding.pidfsHandle(ref.pidfd);
    return { type, bytes: bytes.toString('hex') };
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
}

/**
 * Holds again the process a stored handle names (open_by_handle_at) and checks that it is
 * `expectedInstance` (pid and pidfs inode as spawn recorded them). Throws SystemError ESTALE
 * once the process has been reaped, whatever now runs under its pid; ProcessIdentityError if
 * the handle opened a process with another identity (a handle and instance that do not
 * belong together). Watches the exit unless told not to, as adopt() does.
 */
export function openByPidfsHandle(handle: PidfsHandle, expectedInstance: string, options: { watch?: boolean } = {}): ProcessRef {
  let pidfd: number;
  let pid: number;
  try {
    [pidfd, pid] = binding.openPidfsHandle(handle.type, Buffer.from(handle.bytes, 'hex'));
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
  return heldIfInstance(new ProcessRef(OP_PIDFD, pidfd, pid), expectedInstance, options.watch ?? true);
}

/**
 * Takes ownership of `pidfd` (one the keeper held for a dead daemon) and checks that it is
 * `expectedInstance`. Returns null (fd closed) when the process has been reaped already: its
 * pidfd then names no pid (fdinfo `Pid: -1`), and how it ended is the keeper's EXIT record.
 * Throws ProcessIdentityError (fd closed) for a pidfd of another process.
 */
export function holdPidfd(pidfd: number, expectedInstance: string): ProcessRef | null {
  // The pid of a pidfd's process, as the kernel reports it (-1 once reaped, Linux 5.x on).
  let pid = -1;
  try {
    const match = /^Pid:\s*(-?\d+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${pidfd}`, 'utf8'));
    pid = match === null ? -1 : Number(match[1]);
  } catch {
    pid = -1;
  }
  if (pid <= 0) {
    fs.closeSync(pidfd);
    return null;
  }
  return heldIfInstance(new ProcessRef(OP_PIDFD, pidfd, pid), expectedInstance, true);
}
