// Reaps orphans reparented to this process (as PID 1, or as a child subreaper) and never a
// child someone here is waiting for: neither ours (a ProcessRef, made on any thread) nor
// libuv's (child_process, on this thread: a worker thread's are not protected). See
// native/src/orphans.cc for how ownership is decided.
import type { RawErrnoError } from './binding.js';
import { binding } from './load.js';
import { SystemError } from './errors.js';
import { exitFromRaw, type ProcessExit } from './exit.js';
import { signalName, signalNumber, type SignalLike } from './signals.js';

export interface ReapedOrphan {
  pid: number;
  exit: ProcessExit;
  /** The cgroup v2 id it died in (stat(dir).st_ino of that cgroup), or null when unknown (before Linux 6.13). */
  cgroupId: bigint | null;
}

export interface OrphanReaperOptions {
  /** Called for each orphan reaped. */
  onReap?: (orphan: ReapedOrphan) => void;
  /** Backstop sweep, for a SIGCHLD coalesced with one that was already handled. Default 1000 ms. */
  sweepIntervalMs?: number;
}

// When the oldest zombie belongs to an owner here, it hides the ones behind it: sweep again
// shortly, after its owner (in this same event loop) has reaped it.
const BLOCKED_RETRY_MS = 5;

export class OrphanReaper {
  readonly #onReap: (orphan: ReapedOrphan) => void;
  readonly #sweepIntervalMs: number;
  #interval: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #reapedCount = 0;
  readonly #onSigchld = (): void => {
    this.sweep();
  };

  constructor(options: OrphanReaperOptions = {}) {
    this.#onReap = options.onReap ?? (() => {});
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 1000;
  }

  /** Orphans reaped since start. */
  get reapedCount(): number {
    return this.#reapedCount;
  }

  start(): void {
    if (this.#interval !== undefined) return;
    process.on('SIGCHLD', this.#onSigchld);
    this.#interval = setInterval(() => this.sweep(), this.#sweepIntervalMs);
    this.sweep();
  }

  stop(): void {
    process.off('SIGCHLD', this.#onSigchld);
    clearInterval(this.#interval);
    clearTimeout(this.#retry);
    this.#interval = undefined;
    this.#retry = undefined;
  }

  /** Reaps every unowned zombie child now. Returns how many it reaped. */
  sweep(): number {
    let result;
    try {
      result = binding.reapOrphans();
    } catch (error) {
      throw SystemError.from(error as RawErrnoError);
    }
    for (const { pid, siCode, siStatus, cgroupId } of result.reaped) {
      this.#reapedCount++;
      this.#onReap({ pid, exit: exitFromRaw({ siCode, siStatus, source: 'waitid' }), cgroupId: cgroupId === 0n ? null : cgroupId });
    }
    if (result.blockedBy !== 0 && this.#retry === undefined && this.#interval !== undefined) {
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        this.sweep();
      }, BLOCKED_RETRY_MS);
    }
    return result.reaped.length;
  }
}

/** Makes orphaned descendants reparent to this process (PR_SET_CHILD_SUBREAPER, Linux 3.4). */
export function setChildSubreaper(on: boolean): void {
  try {
    binding.setChildSubreaper(on);
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
}

export function isChildSubreaper(): boolean {
  return binding.getChildSubreaper();
}

/**
 * Sets `signal`'s disposition to SIG_IGN, as tini does for SIGTTIN and SIGTTOU: a JS listener
 * would not do (see orphans.cc). Never for a signal that has a listener. Children do not
 * inherit it: spawn resets every disposition.
 */
export function ignoreSignal(signal: SignalLike): void {
  const number = signalNumber(signal);
  if (process.listenerCount(signalName(number)) > 0) throw new Error(`${signalName(number)} has a listener: ignoring it would break it`);
  try {
    binding.ignoreSignal(number);
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
}

/** This process gets `signal` when its parent dies (PR_SET_PDEATHSIG), as tini -p. */
export function setParentDeathSignal(signal: SignalLike): void {
  try {
    binding.setParentDeathSignal(signalNumber(signal));
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
}
