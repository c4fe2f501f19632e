// A process as pidvisor holds it: a pid paired with the pidfd that names it. Every signal
// goes through the pidfd; after the reap the pidfd is closed and signal() answers
// ProcessExitedError without a syscall, so a recycled pid can never be hit.
import fs from 'node:fs';
import type { RawErrnoError, RawHandleArgs, RawProcessHandle } from './binding.js';
import { binding } from './load.js';
import { capabilities } from './capabilities.js';
import { ProcessExitedError, SystemError } from './errors.js';
import { exitFromFields, type ProcessExit } from './exit.js';
import { RAW_CLOSE, RAW_INODE, RAW_SEND_SIGNAL, RAW_WATCH } from './raw-keys.js';
import { signalNumber, type SignalLike } from './signals.js';

export interface SignalOptions {
  /** Signal the process group this process leads (PIDFD_SIGNAL_PROCESS_GROUP, Linux 6.9). */
  processGroup?: boolean;
}

// Registry symbols, not local ones: the addon keeps one exit handler per Node environment, and
// a second copy of this module in the same environment (a test runner's module cache, dist/
// beside the sources) replaces it. Its handler must still reach the first copy's references,
// or their exits would be dropped.
const DELIVER_EXIT: unique symbol = Symbol.for('pidvisor.deliverExit');
/** @internal Starts the exit watch; for the modules of native/ only. */
export const START_WATCH: unique symbol = Symbol.for('pidvisor.startWatch');

// The native handle is the base class: one JS object per process, which counts with
// thousands of children (and a spawn makes no second object).
const NativeHandle: new (...args: RawHandleArgs) => RawProcessHandle = binding.ProcessHandle;

export class ProcessRef extends NativeHandle {
  // Both are accessors of the native base class; declared here so that the public types say so
  // without the raw binding's.
  declare readonly pid: number;
  /**
   * The pidfd while the process is held, -1 after the reap or close(). It stays owned by this
   * reference: read it, pass it to a child through spawn options, but never close it or dup2
   * over its number yourself; the exit watch is keyed by it (close() the reference instead).
   */
  declare readonly pidfd: number;
  #instance: string | undefined;
  #watched = false;
  // The exit record, or why there will be none (waitid failed, closed first). Few fields per
  // reference: a daemon holds one for each of thousands of children.
  #outcome: ProcessExit | Error | undefined;
  // Made on the first wait() only: a process nobody waits for costs no promise.
  #waiter: Waiter | undefined;

  static {
    // Every watched handle of this Node environment reports its exit here, with the reference
    // as `this` (see ProcessHandle::SetExitHandler).
    // Plain parameters, not ...rest and a destructured array: this runs first thing after the
    // wake-up, on cold caches, where every allocation and iterator step shows in the latency.
    binding.setExitHandler(function (
      this: RawProcessHandle,
      error: RawErrnoError | null,
      siCode?: number,
      siStatus?: number,
      _source?: number,
      userCpuMicros?: number,
      systemCpuMicros?: number,
      maxRssKiB?: number,
    ) {
      (this as ProcessRef)[DELIVER_EXIT](error, siCode, siStatus, userCpuMicros, systemCpuMicros, maxRssKiB);
    });
  }

  /**
   * @internal References are made by spawn(), adopt(), openProcess() and peerCredentials(),
   * which own the process from here on (see RawHandleArgs).
   */
  constructor(...args: RawHandleArgs) {
    super(...args);
    // Without pidfs the identity includes the start time, which is only safe to read while
    // the process is held: take it now. With pidfs it is made on first use.
    if (!capabilities().features.pidfs.ok) this.#instance = instanceOf(this);
  }

  /**
   * @internal Watches for the exit (and reaps it when ours); `beforeReap` then runs while our
   * exited child is still a zombie (see SpawnOptions). Throws the raw epoll_ctl error.
   */
  [START_WATCH](beforeReap?: () => void): void {
    this[RAW_WATCH](beforeReap);
    this.#watched = true;
  }

  /**
   * Opaque identity of this process: pid and pidfs inode (unique per boot, Linux 6.9); on
   * older kernels pid and start time, which can collide on immediate pid reuse.
   */
  get instance(): string {
    this.#instance ??= instanceOf(this);
    return this.#instance;
  }

  /** The exit record once the process has ended and been reaped, else undefined. */
  get exitStatus(): ProcessExit | undefined {
    return this.#outcome instanceof Error ? undefined : this.#outcome;
  }

  /** Sends a signal through the pidfd. Throws ProcessExitedError once the process is gone. */
  signal(signal: SignalLike, options: SignalOptions = {}): void {
    const number = signalNumber(signal);
    if (this.pidfd < 0) throw new ProcessExitedError(this.pid);
    try {
      this[RAW_SEND_SIGNAL](number, options.processGroup === true);
    } catch (error) {
      const raw = error as RawErrnoError;
      // ESRCH through a pidfd: the process was reaped by its parent (one we do not own).
      if (raw.code === 'ESRCH' || raw.code === 'ERR_PROCESS_EXITED') throw new ProcessExitedError(this.pid);
      throw SystemError.from(raw);
    }
  }

  /** Resolves with the exit record when the process ends (rejects only if waitid itself fails). */
  wait(): Promise<ProcessExit> {
    if (!this.#watched) return Promise.reject(new Error(`process ${this.pid} is not watched by this reference`));
    if (this.#waiter === undefined) {
      const outcome = this.#outcome;
      if (outcome instanceof Error) this.#waiter = { promise: Promise.reject(outcome) };
      else if (outcome !== undefined) this.#waiter = { promise: Promise.resolve(outcome) };
      else {
        // One literal, not spread from a second object: the spread was a runtime call on
        // every spawn's path.
        let resolve!: Waiter['resolve'];
        let reject!: Waiter['reject'];
        const promise = new Promise<ProcessExit>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        this.#waiter = { promise, resolve, reject };
      }
    }
    return this.#waiter.promise;
  }

  /**
   * Releases the pidfd and stops watching. Idempotent. A child closed before it exits is
   * no longer reaped by this reference (an OrphanReaper, if running, takes it), and a pending
   * wait() rejects.
   */
  close(): void {
    this[RAW_CLOSE](); // idempotent; no exit is delivered after it
    if (this.#watched && this.#outcome === undefined) {
      this.#fail(new Error(`process ${this.pid}: the reference was closed before the exit`));
    }
  }

  /** @internal The exit handler's entry (see DELIVER_EXIT). */
  [DELIVER_EXIT](
    error: RawErrnoError | null,
    siCode: number | undefined,
    siStatus: number | undefined,
    userCpuMicros: number | undefined,
    systemCpuMicros: number | undefined,
    maxRssKiB: number | undefined,
  ): void {
    if (error !== null || siCode === undefined || siStatus === undefined) {
      this.#fail(SystemError.from(error ?? new Error('waitid returned no exit')));
      // Release the pidfd: an unreaped zombie we hold would block the orphan reaper.
      this.close();
      return;
    }
    const exit = exitFromFields(siCode, siStatus, userCpuMicros, systemCpuMicros, maxRssKiB);
    this.#outcome = exit;
    this.#waiter?.resolve?.(exit);
    this.#settled();
  }

  #fail(error: Error): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = error;
    this.#waiter?.reject?.(error);
    this.#settled();
  }

  #settled(): void {
    if (this.#waiter === undefined) return;
    this.#waiter.resolve = undefined;
    this.#waiter.reject = undefined;
  }
}

/** wait()'s promise, with its resolvers while it is pending. */
interface Waiter {
  promise: Promise<ProcessExit>;
  resolve?: (exit: ProcessExit) => void;
  reject?: (error: Error) => void;
}

/** The identity token of the process behind a raw handle (see ProcessRef.instance). */
function instanceOf(handle: RawProcessHandle): string {
  if (capabilities().features.pidfs.ok) return `${handle.pid}.${handle[RAW_INODE].toString(36)}`;
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
