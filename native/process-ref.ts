// A process as pidvisor holds it: a pid paired with the pidfd that names it. Every signal
// goes through the pidfd; after the reap the pidfd is closed and signal() answers
// ProcessExitedError without a syscall, so a recycled pid can never be hit.
import fs from 'node:fs';
import type { RawErrnoError, RawExit, RawProcessHandle } from './binding.js';
import { capabilities } from './capabilities.js';
import { ProcessExitedError, SystemError } from './errors.js';
import { exitFromRaw, type ProcessExit } from './exit.js';
import { signalNumber, type SignalLike } from './signals.js';

export interface SignalOptions {
  /** Signal the process group this process leads (PIDFD_SIGNAL_PROCESS_GROUP, Linux 6.9). */
  processGroup?: boolean;
}

export class ProcessRef {
  readonly pid: number;
  /**
   * Opaque identity of this process: pid and pidfs inode (unique per boot, Linux 6.9); on
   * older kernels pid and start time, which can collide on immediate pid reuse.
   */
  readonly instance: string;
  #handle: RawProcessHandle | null;
  #exit: ProcessExit | undefined;
  #exited: Promise<ProcessExit> | undefined;
  #rejectWait: ((error: Error) => void) | undefined;

  /**
   * Takes ownership of the handle. With `watch`, the exit is awaited (and reaped when ours);
   * `beforeReap` then runs while our exited child is still a zombie (see SpawnOptions).
   */
  constructor(handle: RawProcessHandle, options: { watch: boolean; beforeReap?: () => void }) {
    this.#handle = handle;
    this.pid = handle.pid;
    this.instance = instanceOf(handle);
    if (options.watch) this.#exited = this.#watch(handle, options.beforeReap);
  }

  /** The exit record once the process has ended and been reaped, else undefined. */
  get exitStatus(): ProcessExit | undefined {
    return this.#exit;
  }

  /** The pidfd while the process is held, -1 after the reap or close(). */
  get pidfd(): number {
    return this.#handle?.fd ?? -1;
  }

  /** Sends a signal through the pidfd. Throws ProcessExitedError once the process is gone. */
  signal(signal: SignalLike, options: SignalOptions = {}): void {
    const number = signalNumber(signal);
    const handle = this.#handle;
    if (handle === null || handle.fd < 0) throw new ProcessExitedError(this.pid);
    try {
      handle.sendSignal(number, options.processGroup === true);
    } catch (error) {
      const raw = error as RawErrnoError;
      // ESRCH through a pidfd: the process was reaped by its parent (one we do not own).
      if (raw.code === 'ESRCH' || raw.code === 'ERR_PROCESS_EXITED') throw new ProcessExitedError(this.pid);
      throw SystemError.from(raw);
    }
  }

  /** Resolves with the exit record when the process ends (rejects only if waitid itself fails). */
  wait(): Promise<ProcessExit> {
    if (this.#exited === undefined) {
      return Promise.reject(new Error(`process ${this.pid} is not watched by this reference`));
    }
    return this.#exited;
  }

  /**
   * Releases the pidfd and stops watching. Idempotent. A child closed before it exits is
   * no longer reaped by this reference (an OrphanReaper, if running, takes it), and a pending
   * wait() rejects.
   */
  close(): void {
    this.#handle?.close();
    this.#handle = null;
    this.#rejectWait?.(new Error(`process ${this.pid}: the reference was closed before the exit`));
    this.#rejectWait = undefined;
  }

  #watch(handle: RawProcessHandle, beforeReap: (() => void) | undefined): Promise<ProcessExit> {
    const exited = new Promise<ProcessExit>((resolve, reject) => {
      this.#rejectWait = reject;
      handle.watch((error: RawErrnoError | null, raw: RawExit | null) => {
        this.#rejectWait = undefined;
        if (error !== null || raw === null) {
          // Release the pidfd: an unreaped zombie we hold would block the orphan reaper.
          this.close();
          reject(SystemError.from(error ?? new Error('waitid returned no exit')));
          return;
        }
        this.#exit = exitFromRaw(raw);
        this.#handle = null; // the native side closed the pidfd at the reap
        resolve(this.#exit);
      }, beforeReap);
    });
    exited.catch(() => {}); // a caller who never waits must not see an unhandled rejection
    return exited;
  }
}

/** The identity token of the process behind a raw handle (see ProcessRef.instance). */
export function instanceOf(handle: RawProcessHandle): string {
  if (capabilities().features.pidfs.ok) return `${handle.pid}.${handle.inode.toString(36)}`;
  return `${handle.pid}.t${startTime(handle.pid)}`;
}

// /proc/<pid>/stat field 22 in clock ticks: the weaker identity for kernels without pidfs.
// Read while we still hold the unreaped process, so the pid cannot have been reused.
function startTime(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
  } catch {
    return '0';
  }
}
