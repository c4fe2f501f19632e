// Which failed requests the client sends again by itself, and when. A request is repeated
// only where doing it twice cannot do twice what the caller asked:
//
// - The request never reached the daemon (UnreachableError: no socket yet, connection
//   refused while the keeper restarts the daemon, a keep-alive socket closed while idle):
//   any request. Not when the failure is permanent (EACCES, TLS refused).
// - The daemon refused it before acting: 429 RATE_LIMITED / TOO_MANY_STREAMS, 503
//   SHUTTING_DOWN / TOO_MANY_LAUNCHES / HANDING_OVER (a reexec: the next daemon answers),
//   after their Retry-After: any request.
// - The connection broke after the request was sent (ConnectionLostError): only reads (GET).
//   A launch is not repeated then, even with its Idempotency-Key: the daemon keeps keys in
//   memory, so if it died mid-request the next one does not know the key and would launch
//   again. The error carries the key for a caller who knows the daemon did not restart.
import { ApiError, UnreachableError, ConnectionLostError } from './errors.js';

export interface RetryOptions {
  /** Tries in all, the first included (default 5; 1 disables retries). */
  attempts?: number;
  /** Delay before the first retry, doubled for each next one (default 100 ms). */
  initialDelayMs?: number;
  /** The longest delay, Retry-After included (default 2000 ms). */
  maxDelayMs?: number;
}

const PERMANENT = new Set(['EACCES', 'ENOTSOCK', 'EPROTO', 'ENOTFOUND']);
const REFUSED_BEFORE_ACTING = new Set(['PIDVISOR_ERR_RATE_LIMITED', 'PIDVISOR_ERR_TOO_MANY_STREAMS', 'PIDVISOR_ERR_SHUTTING_DOWN', 'PIDVISOR_ERR_TOO_MANY_LAUNCHES', 'PIDVISOR_ERR_HANDING_OVER']);

export const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 5, initialDelayMs: 100, maxDelayMs: 2000 };

/** Whether this failure may be retried at all, whatever the attempt. */
export function isRetryable(method: string, error: unknown): boolean {
  if (error instanceof UnreachableError) return !PERMANENT.has(error.code) && !/CERT|SIGNATURE|ISSUER/.test(error.code);
  if (error instanceof ConnectionLostError) return method === 'GET';
  if (error instanceof ApiError) return REFUSED_BEFORE_ACTING.has(error.code);
  return false;
}

/** The delay before try number `attempt + 1` (attempt counts from 1), or null to give up. */
export function retryDelay(method: string, error: unknown, attempt: number, options: Required<RetryOptions>): number | null {
  if (attempt >= options.attempts || !isRetryable(method, error)) return null;
  const backoff = options.initialDelayMs * 2 ** (attempt - 1);
  const retryAfter = error instanceof ApiError ? (error.retryAfterSeconds ?? 0) * 1000 : 0;
  return Math.min(options.maxDelayMs, Math.max(backoff, retryAfter));
}

/** A delay that ends early (rejecting) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
