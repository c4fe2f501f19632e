// What a request through the client can fail with. The daemon's own refusals arrive as
// application/problem+json (RFC 9457) with a stable `code` from api/server/errors.ts; the
// others say whether the request could have reached the daemon, which is what decides
// whether it may be sent again (README: Typed client, retries).
import type { ErrorCode, Problem } from '../api/server/errors.js';

export type { ErrorCode, Problem };

/** The daemon answered with a problem: `code` is one of the catalogue's (PIDVISOR_ERR_...). */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly code: ErrorCode;
  /** The whole problem body: its extra members (errno, stage, problems, index...) too. */
  readonly problem: Problem;

  /** From the Retry-After header (or the body's retryAfterSeconds): when the daemon asks to be asked again. */
  readonly retryAfterSeconds: number | null;

  constructor(status: number, problem: Partial<Problem> & Record<string, unknown>, retryAfter?: string) {
    super(String(problem.detail ?? problem.title ?? `HTTP ${status}`));
    this.status = status;
    const seconds = Number(retryAfter ?? problem.retryAfterSeconds);
    this.retryAfterSeconds = Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
    // A body that is not a problem (a proxy's page) still gets a code the caller can test.
    this.code = (typeof problem.code === 'string' ? problem.code : `HTTP_${status}`) as ErrorCode;
    this.problem = { type: 'about:blank', title: '', status, detail: this.message, ...problem, code: this.code } as Problem;
  }

  /** The problem body (kept under its older name for the CLI's commands). */
  get body(): Problem {
    return this.problem;
  }
}

/** True when `error` is the daemon's answer with this code: `if (isProblem(e, 'PIDVISOR_ERR_NOT_FOUND'))`. */
export function isProblem(error: unknown, code?: ErrorCode): error is ApiError {
  return error instanceof ApiError && (code === undefined || error.code === code);
}

/**
 * The daemon could not be reached: no socket, connection refused, no permission, TLS
 * refused. `sent` is false: the request never reached it, so nothing was done.
 */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
  /** The errno-style code of the failure (ENOENT, ECONNREFUSED, CERT_HAS_EXPIRED...). */
  readonly code: string;
  readonly sent = false;

  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * The connection broke after the request was sent and before the answer came: the daemon
 * may or may not have acted on it (it may have died mid-request). A launch can be sent again
 * with the same `idempotencyKey` while the same daemon runs; reads are retried by the client.
 */
export class ConnectionLostError extends Error {
  override name = 'ConnectionLostError';
  readonly code: string;
  readonly sent = true;
  /** The key the request carried, to send it again with. */
  readonly idempotencyKey: string | null;

  constructor(message: string, code: string, idempotencyKey: string | null, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.idempotencyKey = idempotencyKey;
  }
}

/** The options would send the token where it must not go (clear text off this machine), or are unusable. */
export class InsecureUrlError extends Error {
  override name = 'InsecureUrlError';
}
