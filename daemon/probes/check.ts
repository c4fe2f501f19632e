// What every kind of probe check answers, and the one way each is run: a check never
// blocks the event loop and answers within its timeout (an exec check a little later: the
// time to reap what it killed).

export interface CheckResult {
  ok: boolean;
  /** Why it failed, or what it saw: `connection refused (ECONNREFUSED)`, `status 503`. */
  detail: string;
}

/** One kind of check, bound to one instance of a service. */
export interface Checker {
  run(timeoutMs: number): Promise<CheckResult>;
  /** Releases what the checker holds (a log subscription); runs no more checks. Idempotent. */
  close(): void;
}

/** The failure detail of a Node error: its message, and its code when the message lacks it. */
export function describeError(error: unknown): string {
  const err = error as NodeJS.ErrnoException;
  const message = err?.message ?? String(error);
  return err?.code !== undefined && !message.includes(err.code) ? `${message} (${err.code})` : message;
}
