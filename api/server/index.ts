// The HTTP API of the daemon: build the app around a supervisor, then put it on the wire.
export { buildApp } from './app.js';
export type { PidvisorApp } from './app.js';
export type { AppOptions, AppContext, ServerTimeouts } from './context.js';
export { listen, prepareSocketDir, clearStaleSocket } from './transport.js';
export type { ListenOptions, ListenHandle, TcpOptions } from './transport.js';
export { ERRORS, ERROR_CODES, STREAM_ERROR_CODES, SUPERVISOR_ERRORS, TRANSPORT_ERROR_CODES, ApiError, problemBody, problemType, toApiError, PROBLEM_CONTENT_TYPE } from './errors.js';
export type { ErrorCode, ErrorDefinition, Problem } from './errors.js';
export { openApiDocument, routeErrors, COMMON_ERRORS, BODY_ERRORS } from './openapi.js';
export type { RouteDoc, RouteRecord } from './openapi.js';
export type { AuditOptions, AuditEntry } from './audit.js';
export type { Peer, ConnectionInfo } from './auth.js';
export type { RateLimitOptions } from './limits.js';
export type { IdempotencyOptions } from './idempotency.js';
