// When a service that ended by itself is started again: the policy (no, on-failure,
// always), exponential backoff with jitter and a cap, a reset after a stable uptime, and a
// limit of restarts within a window after which the service is failed until asked again.

export interface RestartPolicy {
  policy: 'no' | 'on-failure' | 'always';
  /** Exit codes that count as success for on-failure. */
  successCodes: readonly number[];
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
  /** Fraction of the delay added or removed at random, so a fleet does not restart in step. */
  jitter: number;
  /** An instance that ran this long resets the backoff to its initial delay. */
  resetAfterMs: number;
  /** More restarts than this within windowMs: the service is failed. */
  maxRestarts: number;
  windowMs: number;
}

// Like systemd's start limit (RestartSec=100ms, StartLimitBurst=5), with backoff: the 5
// restarts of a burst wait 100 + 200 + 400 + 800 + 1600 = 3.1 s (3.72 s at most with the
// jitter), far less than the window, so a crash loop whose instances live less than about
// 11 s is failed within a minute; a fast one (a command that exits at once) within about 4 s.
// A limit whose burst of delays cannot fit its window is never reached: the service then
// retries for ever (test/daemon/restart-policy.test.ts checks the defaults).
export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  policy: 'on-failure',
  successCodes: [0],
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: 0.2,
  resetAfterMs: 10_000,
  maxRestarts: 5,
  windowMs: 60_000,
};

export interface EndedInstance {
  code: number | null;
  /** The process ran this long. */
  uptimeMs: number;
  /** A spawn that failed before the program ran. */
  spawnFailed: boolean;
}

/** Whether the policy wants this ending restarted at all. */
export function wantsRestart(policy: RestartPolicy, ended: EndedInstance): boolean {
  if (policy.policy === 'always') return true;
  if (policy.policy === 'no') return false;
  return ended.spawnFailed || ended.code === null || !policy.successCodes.includes(ended.code);
}

/** Tracks restarts of one service: the backoff step and the recent restarts in the window. */
export class RestartTracker {
  #attempt = 0;
  #recent: number[] = [];

  /**
   * The delay before the next start, or null when the service has restarted too often and
   * must be failed. `now` and `random` are injectable for tests.
   */
  next(policy: RestartPolicy, ended: EndedInstance, now = Date.now(), random = Math.random): number | null {
    if (ended.uptimeMs >= policy.resetAfterMs) this.#attempt = 0;
    this.#recent = this.#recent.filter((at) => now - at < policy.windowMs);
    if (this.#recent.length >= policy.maxRestarts) return null;
    this.#recent.push(now);
    const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** this.#attempt);
    this.#attempt++;
    const spread = base * policy.jitter * (2 * random() - 1);
    return Math.max(0, Math.round(Math.min(policy.maxDelayMs, base + spread)));
  }

  /** A start asked for by a person clears the history: "failed until asked again". */
  reset(): void {
    this.#attempt = 0;
    this.#recent = [];
  }

  /** Restarts counted in the current window (for the API). */
  get recentRestarts(): number {
    return this.#recent.length;
  }
}
