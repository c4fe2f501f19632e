// The one catalogue of coded API errors: each code once, with its HTTP status and title.
// Every 4xx and 5xx the API sends is an `application/problem+json` body (RFC 9457) built
// from this table, whether the error came from a route, from the supervisor (its codes are
// mapped below), from fastify's own parsing and validation, or from the HTTP parser.
// test/api/errors-catalogue.test.ts keeps this table, the OpenAPI document and the code in step.
import http from 'node:http';
import type net from 'node:net';
import type { FastifyError } from 'fastify';
import type { SupervisorErrorCode } from '../../daemon/errors.js';

export interface ErrorDefinition {
  status: number;
  title: string;
}

export const ERRORS = {
  PIDVISOR_ERR_VALIDATION: { status: 400, title: 'The request does not match the schema' },
  PIDVISOR_ERR_INVALID_JSON: { status: 400, title: 'The body is not valid JSON' },
  PIDVISOR_ERR_PROTO_POISONING: { status: 400, title: 'The body has a __proto__ or constructor.prototype key' },
  PIDVISOR_ERR_BAD_REQUEST: { status: 400, title: 'Malformed request' },
  PIDVISOR_ERR_UNAUTHORIZED: { status: 401, title: 'A valid bearer token is required' },
  PIDVISOR_ERR_FORBIDDEN: { status: 403, title: 'The caller is not allowed' },
  PIDVISOR_ERR_CROSS_ORIGIN: { status: 403, title: 'Cross-origin and browser requests are refused' },
  PIDVISOR_ERR_NOT_FOUND: { status: 404, title: 'No such process' },
  PIDVISOR_ERR_ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  PIDVISOR_ERR_REQUEST_TIMEOUT: { status: 408, title: 'The request was not received in time' },
  PIDVISOR_ERR_NAME_TAKEN: { status: 409, title: 'A process with this name exists' },
  PIDVISOR_ERR_ALREADY_RUNNING: { status: 409, title: 'The process is already running' },
  PIDVISOR_ERR_STOPPING: { status: 409, title: 'The process is stopping' },
  PIDVISOR_ERR_REMOVING: { status: 409, title: 'The process is being removed; it will not start again' },
  PIDVISOR_ERR_NOT_RUNNING: { status: 409, title: 'The process has no running instance; nothing was signalled' },
  PIDVISOR_ERR_INSTANCE_MISMATCH: { status: 409, title: 'The instance is not the current one; nothing was signalled' },
  PIDVISOR_ERR_LOGS_NOT_CAPTURED: { status: 409, title: 'The output of this process is not captured' },
  PIDVISOR_ERR_NO_CONFIG: { status: 409, title: 'The daemon was started without a config file' },
  PIDVISOR_ERR_NO_KEEPER: { status: 409, title: 'The daemon runs without pidvisor-keeper: it cannot hand over to a new daemon' },
  PIDVISOR_ERR_DEPENDENCY_UNAVAILABLE: { status: 409, title: 'A dependency the process needs is missing or being removed; nothing was started' },
  PIDVISOR_ERR_PAYLOAD_TOO_LARGE: { status: 413, title: 'The body is too large' },
  PIDVISOR_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Only application/json bodies are accepted' },
  PIDVISOR_ERR_SPAWN_FAILED: { status: 422, title: 'The process could not be started' },
  PIDVISOR_ERR_UNKNOWN_USER: { status: 422, title: 'No such user' },
  PIDVISOR_ERR_UNKNOWN_GROUP: { status: 422, title: 'No such group' },
  PIDVISOR_ERR_CGROUP_UNAVAILABLE: { status: 422, title: 'Kill mode cgroup is unavailable on this host' },
  PIDVISOR_ERR_IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'The Idempotency-Key was used with a different body' },
  PIDVISOR_ERR_CONFIG_INVALID: { status: 422, title: 'The config file was refused; nothing was changed' },
  PIDVISOR_ERR_DEPENDENCY_UNKNOWN: { status: 422, title: 'dependsOn names a process that does not exist' },
  PIDVISOR_ERR_DEPENDENCY_CYCLE: { status: 422, title: 'dependsOn would close a dependency cycle' },
  PIDVISOR_ERR_NOT_READY: { status: 422, title: 'The process did not become ready' },
  PIDVISOR_ERR_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  PIDVISOR_ERR_TOO_MANY_STREAMS: { status: 429, title: 'Too many open event or log streams' },
  PIDVISOR_ERR_HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large' },
  PIDVISOR_ERR_INTERNAL: { status: 500, title: 'Internal error' },
  PIDVISOR_ERR_TOO_MANY_LAUNCHES: { status: 503, title: 'Too many launches in progress' },
  PIDVISOR_ERR_SHUTTING_DOWN: { status: 503, title: 'The daemon is shutting down' },
  PIDVISOR_ERR_WAIT_INTERRUPTED: { status: 503, title: 'The process was launched, but the daemon handed over (reexec) before it exited: wait for it again with GET /v1/processes/{id}/wait' },
  PIDVISOR_ERR_HANDING_OVER: { status: 503, title: 'The daemon is handing over to a new daemon (reexec); retry in a moment' },
  PIDVISOR_ERR_STREAM_BEHIND: { status: 503, title: 'The stream was ended: the client read too slowly' },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof ERRORS;
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/** Codes sent by the HTTP layer itself, before any route is chosen. */
export const TRANSPORT_ERROR_CODES: readonly ErrorCode[] = ['PIDVISOR_ERR_BAD_REQUEST', 'PIDVISOR_ERR_REQUEST_TIMEOUT', 'PIDVISOR_ERR_HEADERS_TOO_LARGE', 'PIDVISOR_ERR_ROUTE_NOT_FOUND'];

/**
 * Codes sent inside a 200 stream (the last event or line of a stream that dropped its
 * client), never as a response status.
 */
export const STREAM_ERROR_CODES: readonly ErrorCode[] = ['PIDVISOR_ERR_STREAM_BEHIND'];

/** How each supervisor error reaches clients. */
export const SUPERVISOR_ERRORS: Readonly<Record<SupervisorErrorCode, ErrorCode>> = {
  SERVICE_NOT_FOUND: 'PIDVISOR_ERR_NOT_FOUND',
  NAME_TAKEN: 'PIDVISOR_ERR_NAME_TAKEN',
  INVALID_SPEC: 'PIDVISOR_ERR_VALIDATION',
  UNKNOWN_USER: 'PIDVISOR_ERR_UNKNOWN_USER',
  UNKNOWN_GROUP: 'PIDVISOR_ERR_UNKNOWN_GROUP',
  SPAWN_FAILED: 'PIDVISOR_ERR_SPAWN_FAILED',
  ALREADY_RUNNING: 'PIDVISOR_ERR_ALREADY_RUNNING',
  STOPPING: 'PIDVISOR_ERR_STOPPING',
  REMOVING: 'PIDVISOR_ERR_REMOVING',
  NOT_RUNNING: 'PIDVISOR_ERR_NOT_RUNNING',
  INSTANCE_MISMATCH: 'PIDVISOR_ERR_INSTANCE_MISMATCH',
  CGROUP_UNAVAILABLE: 'PIDVISOR_ERR_CGROUP_UNAVAILABLE',
  CONFIG_INVALID: 'PIDVISOR_ERR_CONFIG_INVALID',
  NO_CONFIG: 'PIDVISOR_ERR_NO_CONFIG',
  SHUTTING_DOWN: 'PIDVISOR_ERR_SHUTTING_DOWN',
  DEPENDENCY_UNKNOWN: 'PIDVISOR_ERR_DEPENDENCY_UNKNOWN',
  DEPENDENCY_CYCLE: 'PIDVISOR_ERR_DEPENDENCY_CYCLE',
  DEPENDENCY_UNAVAILABLE: 'PIDVISOR_ERR_DEPENDENCY_UNAVAILABLE',
  NOT_READY: 'PIDVISOR_ERR_NOT_READY',
  NO_KEEPER: 'PIDVISOR_ERR_NO_KEEPER',
  HANDING_OVER: 'PIDVISOR_ERR_HANDING_OVER',
};

/** fastify's own client errors, by their code. Any other fastify 4xx is BAD_REQUEST. */
const FASTIFY_ERRORS: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_VALIDATION: 'PIDVISOR_ERR_VALIDATION',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PIDVISOR_ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'PIDVISOR_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'PIDVISOR_ERR_INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'PIDVISOR_ERR_INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'PIDVISOR_ERR_BAD_REQUEST',
  FST_ERR_BAD_URL: 'PIDVISOR_ERR_BAD_REQUEST',
  FST_ERR_NOT_FOUND: 'PIDVISOR_ERR_ROUTE_NOT_FOUND',
};

/** An error the API answers with, by code. `details` become members of the problem body. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, detail: string, details: Record<string, unknown> = {}, options: { headers?: Record<string, string>; cause?: unknown } = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = details;
    this.headers = options.headers ?? {};
  }

  get status(): number {
    return ERRORS[this.code].status;
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  [member: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** The problem `type` URI of a code: urn:pidvisor:problem:spawn-failed. */
export function problemType(code: ErrorCode): string {
  return `urn:pidvisor:problem:${code.slice('PIDVISOR_ERR_'.length).toLowerCase().replaceAll('_', '-')}`;
}

export function problemBody(error: ApiError): Problem {
  const { status, title } = ERRORS[error.code];
  // The standard members win over details of the same name.
  return { ...error.details, type: problemType(error.code), title, status, code: error.code, detail: error.message };
}

/** Any error, thrown anywhere while handling a request, as the ApiError clients see. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const supervisorCode = supervisorErrorCode(error);
  if (supervisorCode !== null) {
    const { details, message } = error as { details?: Record<string, unknown>; message: string };
    return new ApiError(SUPERVISOR_ERRORS[supervisorCode], message, { ...details }, { cause: error });
  }
  const fastifyError = error as Partial<FastifyError> | null;
  if (fastifyError?.validation !== undefined) return validationError(fastifyError as FastifyError);
  const statusCode = fastifyError?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    const code = FASTIFY_ERRORS[fastifyError?.code ?? ''] ?? 'PIDVISOR_ERR_BAD_REQUEST';
    return new ApiError(code, fastifyError?.message ?? ERRORS[code].title, {}, { cause: error });
  }
  // Anything else is ours to fix; the client gets no internals.
  return new ApiError('PIDVISOR_ERR_INTERNAL', 'internal error; see the daemon log', {}, { cause: error });
}

/** Where a request failed its schema, one entry per problem ajv reported. */
function validationError(error: FastifyError): ApiError {
  const part = error.validationContext ?? 'request';
  const problems = explainUnions(error.validation ?? []).slice(0, 20).map((issue) => {
    const params = issue.params as Record<string, unknown>;
    const extra = typeof params.additionalProperty === 'string' ? ` (${clip(params.additionalProperty)})` : '';
    return { in: part, path: issue.instancePath || '/', message: `${issue.message ?? 'invalid'}${extra}` };
  });
  const first = problems[0];
  const detail = first === undefined ? `invalid ${part}` : `invalid ${part}: ${first.path}: ${first.message}`;
  return new ApiError('PIDVISOR_ERR_VALIDATION', detail, { problems }, { cause: error });
}

type ValidationIssue = NonNullable<FastifyError['validation']>[number] & { parentSchema?: { description?: unknown } };

/**
 * ajv reports a failed union (anyOf) as each branch's failure ("must be string", "must be
 * >= 1"), then the union's. Where the union says what it wants (its description, which
 * needs ajv's `verbose`), that phrase replaces them all: "must be a signal name ... or a
 * signal number from 1 to 64", not the first branch's "must be string".
 */
function explainUnions(issues: readonly ValidationIssue[]): ValidationIssue[] {
  const described = new Map<string, string>();
  for (const issue of issues) {
    const description = issue.parentSchema?.description;
    if (issue.keyword === 'anyOf' && typeof description === 'string') described.set(issue.instancePath, description);
  }
  if (described.size === 0) return [...issues];
  const inUnion = (path: string): boolean => [...described.keys()].some((union) => path === union || path.startsWith(`${union}/`));
  return issues.flatMap((issue) => {
    if (issue.keyword === 'anyOf' && described.has(issue.instancePath)) return [{ ...issue, message: `must be ${described.get(issue.instancePath)}` }];
    return inUnion(issue.instancePath) ? [] : [issue];
  });
}

function supervisorErrorCode(error: unknown): SupervisorErrorCode | null {
  // Duck-typed: the routes depend on the SupervisorApi interface, not the daemon's classes.
  if (!(error instanceof Error) || error.name !== 'SupervisorError') return null;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && Object.hasOwn(SUPERVISOR_ERRORS, code) ? (code as SupervisorErrorCode) : null;
}

function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}...` : text;
}

/**
 * Errors of the HTTP parser (no request object exists yet): answer with a problem and
 * close. fastify's default would send a body outside the catalogue.
 */
export function writeClientError(error: NodeJS.ErrnoException, socket: net.Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'PIDVISOR_ERR_REQUEST_TIMEOUT' : error.code === 'HPE_HEADER_OVERFLOW' ? 'PIDVISOR_ERR_HEADERS_TOO_LARGE' : 'PIDVISOR_ERR_BAD_REQUEST';
  const { status } = ERRORS[code];
  const body = JSON.stringify(problemBody(new ApiError(code, ERRORS[code].title)));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
