// What the routes share: the supervisor (through its interface only), the limits, the
// stores and the counters of one app. Built once by buildApp and decorated onto the app
// as `pidvisor`, so the transport can reach the same counters and logger.
import type { Logger } from 'pino';
import type { ConfigChanges, SupervisorApi } from '../supervisor-api.js';
import { AuditLog, type AuditOptions } from './audit.js';
import type { AuthMethod } from './auth.js';
import type { ErrorCode } from './errors.js';
import { IdempotencyCache, type IdempotencyOptions } from './idempotency.js';
import { RateLimiter, Semaphore, type RateLimitOptions } from './limits.js';
import { ApiMetrics } from './metrics.js';
import type { RouteRecord } from './openapi.js';
import type { ReexecAccepted } from './routes/system-reexec.js';
import { LiveStreams } from './stream.js';
import { UiSessions, type UiSessionOptions } from './ui-session.js';

export interface AppOptions {
  /** The daemon's logger (pino); default: silent. */
  logger?: Logger;
  /** Where mutating requests are recorded; default: a child of `logger`. */
  audit?: AuditOptions;
  /** Largest accepted body in bytes; default 1 MiB. */
  bodyLimit?: number;
  /** Launches handled at once; more are refused with 503. Default 16. */
  maxConcurrentLaunches?: number;
  /** Requests per caller; default burst 1000, 500/s (enough to start and stop hundreds of services from one script). false disables. */
  rateLimit?: RateLimitOptions | false;
  /**
   * Failed authentications (bad or missing token) per peer, counted apart from `rateLimit`;
   * past it they are answered 429. Default burst 20, 2/s. false disables.
   */
  authFailureLimit?: RateLimitOptions | false;
  /** Idempotency-Key store; default 1 hour, 1000 keys. */
  idempotency?: Partial<IdempotencyOptions>;
  /** Comment lines on the event stream this often; default 15 s. */
  heartbeatMs?: number;
  /** A stream client this far behind is disconnected (it resumes); default 1 MiB. */
  maxStreamBufferBytes?: number;
  /** A stream client that takes nothing for this long is disconnected; default 30 s. */
  streamWriteTimeoutMs?: number;
  /** Event and log streams open at once: default 128 in all (a quarter of the connections), 32 per caller. */
  maxStreams?: number;
  maxStreamsPerCaller?: number;
  /** Browser origins allowed to call (default none). */
  allowedOrigins?: string[];
  /** HTTP server timeouts, in ms. */
  timeouts?: Partial<ServerTimeouts>;
  /** Lifetimes of the dashboard's tickets and sessions (ui-session.ts). */
  uiSessions?: Partial<UiSessionOptions>;
  /** The daemon's config reload (POST /v1/config/reload); without it that route answers NO_CONFIG. */
  reloadConfig?: () => Promise<ConfigChanges>;
  /** The daemon's hand-over to a new daemon (POST /v1/system/reexec); without it that route answers NO_KEEPER. */
  reexec?: () => ReexecAccepted;
}

export interface ServerTimeouts {
  /** Time to receive the request headers (server.headersTimeout). Default 10 s. */
  headersMs: number;
  /** Time to receive the whole request (server.requestTimeout). Default 30 s. */
  requestMs: number;
  /** An idle keep-alive connection is closed after this. Default 5 s. */
  keepAliveMs: number;
}

export interface AppContext {
  supervisor: SupervisorApi;
  logger: Logger;
  metrics: ApiMetrics;
  audit: AuditLog;
  rateLimiter: RateLimiter | null;
  authFailureLimiter: RateLimiter | null;
  launches: Semaphore;
  idempotency: IdempotencyCache;
  streams: LiveStreams;
  /** The dashboard's tickets and browser sessions. */
  uiSessions: UiSessions;
  heartbeatMs: number;
  allowedOrigins: ReadonlySet<string>;
  timeouts: ServerTimeouts;
  /** Aborted when the app starts closing: long polls and streams end. */
  closing: AbortSignal;
  /** Aborted when the daemon hands over to the next one (reexec, quiesce.ts): long polls answer HANDING_OVER. */
  handOver: AbortController;
  /** Every route as registered, for the OpenAPI document. */
  routes: RouteRecord[];
}

export const DEFAULT_BODY_LIMIT = 1 << 20;
/** Connections per listener (transport.ts); streams may hold a quarter of them. */
export const DEFAULT_MAX_CONNECTIONS = 512;
export const DEFAULT_MAX_STREAMS = DEFAULT_MAX_CONNECTIONS / 4;

export function createContext(supervisor: SupervisorApi, options: AppOptions, logger: Logger, closing: AbortSignal): AppContext {
  return {
    supervisor,
    logger,
    metrics: new ApiMetrics(),
    audit: new AuditLog(options.audit ?? logger),
    rateLimiter: options.rateLimit === false ? null : new RateLimiter(options.rateLimit ?? { burst: 1000, perSecond: 500 }),
    authFailureLimiter: options.authFailureLimit === false ? null : new RateLimiter(options.authFailureLimit ?? { burst: 20, perSecond: 2 }),
    launches: new Semaphore(options.maxConcurrentLaunches ?? 16),
    idempotency: new IdempotencyCache({ ttlMs: 3_600_000, maxEntries: 1000, ...options.idempotency }),
    streams: new LiveStreams({
      maxBufferedBytes: options.maxStreamBufferBytes ?? 1 << 20,
      writeTimeoutMs: options.streamWriteTimeoutMs ?? 30_000,
      maxStreams: options.maxStreams ?? DEFAULT_MAX_STREAMS,
      maxStreamsPerCaller: options.maxStreamsPerCaller ?? 32,
    }),
    uiSessions: new UiSessions(options.uiSessions),
    heartbeatMs: options.heartbeatMs ?? 15_000,
    allowedOrigins: new Set(options.allowedOrigins ?? []),
    timeouts: { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, ...options.timeouts },
    closing,
    handOver: new AbortController(),
    routes: [],
  };
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without authentication: the dashboard's own files and its sign-in (routes/ui.ts). */
    public?: true;
  }
  interface FastifyInstance {
    pidvisor: AppContext;
  }
  interface FastifyRequest {
    /** The problem code answered, for the audit. */
    problemCode: ErrorCode | null;
    /** The process a request is about, for the audit. */
    auditTarget: string | null;
    /** What else the audit should say (a launch: the name and the command; never the env). */
    auditDetail: Record<string, unknown> | null;
    /** performance.now() when the request arrived. */
    startedAt: number;
    /** How the guards let the request in; null before they ran, or when they refused it. */
    authMethod: AuthMethod | null;
  }
}
