// One daemon per state directory. The state dir names a daemon: its logs, its audit log and
// (derived from its path, see cgroupNameFor) its cgroup subtree. A second daemon on the same
// directory would share all of them and, stopping, remove what the first one uses; so a
// daemon takes this lock before it touches anything, and a refused one leaves nothing.
//
// The lock is flock(LOCK_EX) on `<state dir>/daemon.lock`. The kernel releases it when the
// holder dies, however it dies: a SIGKILLed daemon never blocks the next one, and no stale
// pid file needs guessing about. The file keeps the holder's pid, for the refusal's message
// only (the lock itself is the flock, never the content). The file is never removed: a daemon
// that unlinked it on exit could let two daemons hold locks on two different files.
import fs from 'node:fs';
import path from 'node:path';
import { tryLockExclusive } from '../native/index.js';

export const LOCK_FILE = 'daemon.lock';

/** Another live daemon holds the state directory; nothing was touched. */
export class StateDirBusyError extends Error {
  override name = 'StateDirBusyError';
  readonly stateDir: string;
  /** The holder's pid as it wrote it, or null if it has not written it yet. */
  readonly holderPid: number | null;

  constructor(stateDir: string, holderPid: number | null) {
    const holder = holderPid === null ? 'another daemon (its pid is not written yet)' : `another daemon (pid ${holderPid})`;
    super(`state directory ${stateDir} is in use by ${holder}; stop it first, or give this daemon its own --state-dir`);
    this.stateDir = stateDir;
    this.holderPid = holderPid;
  }
}

export interface StateDirLock {
  readonly stateDir: string;
  readonly file: string;
  /** Closes the lock file, which releases the lock. Idempotent. */
  release(): void;
}

/**
 * Creates the state directory (0700) if needed and takes its lock, or throws
 * StateDirBusyError naming the holder's pid. Nothing else in the directory is touched.
 */
export function lockStateDir(stateDir: string): StateDirLock {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = path.join(stateDir, LOCK_FILE);
  // Read-write without truncation: truncating before holding the lock would erase the
  // holder's pid. Node opens with O_CLOEXEC.
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  let held = false;
  try {
    if (!tryLockExclusive(fd)) throw new StateDirBusyError(stateDir, readHolderPid(fd));
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, `${process.pid}\n`, 0);
    held = true;
  } finally {
    if (!held) fs.closeSync(fd);
  }
  let released = false;
  return {
    stateDir,
    file,
    release() {
      if (released) return;
      released = true;
      fs.closeSync(fd);
    },
  };
}

function readHolderPid(fd: number): number | null {
  const buffer = Buffer.alloc(32);
  const length = fs.readSync(fd, buffer, 0, buffer.length, 0);
  const text = buffer.subarray(0, length).toString('utf8').trim();
  return /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : null;
}
