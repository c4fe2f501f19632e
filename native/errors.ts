// Typed errors of the process layer. Each keeps what the kernel said (errno and its name)
// and where (syscall, and for spawn the stage in the child), so callers can decide by
// `code` and people can read `message`.
import type { RawErrnoError } from './binding.js';

/** A syscall failed; `code` is the errno name ("ESRCH"), `errno` its number. */
export class SystemError extends Error {
  override name = 'SystemError';
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;

  constructor(message: string, details: { code: string; errno: number; syscall: string; cause?: unknown }) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = details.code;
    this.errno = details.errno;
    this.syscall = details.syscall;
  }

  static from(raw: RawErrnoError): SystemError {
    return new SystemError(raw.message, {
      code: raw.code ?? 'EUNKNOWN',
      errno: raw.errno ?? 0,
      syscall: raw.syscall ?? 'unknown',
      cause: raw,
    });
  }
}

/**
 * Where a spawn failed: in the parent (`options`, `pipe`, `clone3`, `clone`) or in the child before
 * exec. For a failure in the child, SpawnError's `syscall` names the call within the stage
 * (`dup2`, `fcntl(F_DUPFD_CLOEXEC)`, `close_range(CLOSE_RANGE_UNSHARE)` for stage `fds`).
 */
export type SpawnStage =
  | 'options'
  | 'pipe'
  | 'stack'
  | 'clone3'
  | 'clone'
  | 'cgroup'
  | 'session'
  | 'fds'
  | 'chdir'
  | 'rlimit'
  | 'setgroups'
  | 'setgid'
  | 'setuid'
  | 'no_new_privs'
  | 'pdeathsig'
  | 'execve'
  /** After the exec: the child could not be watched, so it was killed and reaped. */
  | 'watch';

/**
 * The process could not be started. Nothing is left behind: the failed child was reaped and
 * every fd made for it closed. `code` is the errno name (ENOENT for "command not found").
 */
export class SpawnError extends SystemError {
  override name = 'SpawnError';
  readonly stage: SpawnStage;
  readonly command: string;

  constructor(message: string, details: { code: string; errno: number; syscall: string; stage: SpawnStage; command: string; cause?: unknown }) {
    super(message, details);
    this.stage = details.stage;
    this.command = details.command;
  }

  static fromNative(raw: RawErrnoError, command: string): SpawnError {
    const stage = (raw.stage ?? raw.syscall ?? 'clone') as SpawnStage;
    return new SpawnError(`cannot start ${JSON.stringify(command)}: ${raw.message}`, {
      code: raw.code ?? 'EUNKNOWN',
      errno: raw.errno ?? 0,
      syscall: raw.syscall ?? stage,
      stage,
      command,
      cause: raw,
    });
  }

  static invalid(command: string, reason: string): SpawnError {
    return new SpawnError(`invalid spawn options for ${JSON.stringify(command)}: ${reason}`, {
      code: 'EINVAL',
      errno: 22,
      syscall: 'none',
      stage: 'options',
      command,
    });
  }
}

/** The process has been reaped (or its handle closed): there is nothing left to signal. */
export class ProcessExitedError extends Error {
  override name = 'ProcessExitedError';
  readonly code = 'ERR_PROCESS_EXITED';
  readonly pid: number;

  constructor(pid: number) {
    super(`process ${pid} has already exited; no signal was sent`);
    this.pid = pid;
  }
}

/** adopt() found a different process behind the pid: the one expected is gone and the pid reused. */
export class ProcessIdentityError extends Error {
  override name = 'ProcessIdentityError';
  readonly code = 'ERR_PROCESS_IDENTITY';

  constructor(pid: number, expected: string, found: string) {
    super(`pid ${pid} is now instance ${found}, not the expected ${expected}: the pid was reused`);
  }
}

/** The kernel lacks a feature pidvisor cannot run without. */
export class UnsupportedKernelError extends Error {
  override name = 'UnsupportedKernelError';
  readonly code = 'ERR_UNSUPPORTED_KERNEL';
}
