// The typed client of the pidvisor API: one method per route, each typed with the schemas
// the daemon validates with (types.ts), errors as ApiError with the catalogue's `code`,
// retries where they are safe (retry.ts), and the two streams as async iterators that
// reconnect and resume where they were cut (Last-Event-ID for events, `after` for logs).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { defaultSocketPath } from '../daemon/paths.js';
import { Connection, readAll, type ConnectionOptions, type RawRequest } from './connection.js';
import { ApiError, ConnectionLostError } from './errors.js';
import { lines, serverSentEvents } from './lines.js';
import { DEFAULT_RETRY, isRetryable, retryDelay, sleep, type RetryOptions } from './retry.js';
import type {
  ConfigChanges,
  DependencyGraph,
  ReexecAccepted,
  Health,
  LaunchSpec,
  LogLine,
  LogRecord,
  ProcessInfo,
  ProcessInspection,
  DashboardTicket,
  SignalRequest,
  SignalResult,
  StopRequest,
  StreamedEvent,
  SupervisorEvent,
  SystemInfo,
  WaitResult,
} from './types.js';

export interface ClientOptions extends ConnectionOptions {
  /** Automatic retries of the requests that are safe to send again (retry.ts); `{ attempts: 1 }` turns them off. */
  retry?: RetryOptions;
}

export interface JsonResponse<T> {
  status: number;
  headers: IncomingMessage['headers'];
  body: T;
}

export interface LaunchOptions {
  /**
   * Sent as Idempotency-Key: a launch retried with the same key (by this client, or by the
   * caller after a ConnectionLostError) gets the first answer instead of a second process,
   * while the same daemon runs. A random key is made when none is given.
   */
  idempotencyKey?: string;
  /**
   * Answer once the instance is ready (its readiness probe passed, or READY=1 for a notify
   * service), or with 422 NOT_READY and the reason it never became ready (`?wait=ready`).
   */
  waitReady?: boolean;
  /**
   * Answer once the instance this launch started has exited; the answer's `exit` is its exit
   * (`?wait=exit`). Not with waitReady, nor for a spec with dependsOn or autostart false.
   */
  waitExit?: boolean;
  /**
   * With waitExit: remove the process once it has exited, and answer with its last state
   * (`removed`): launch, wait and delete in one request, like `docker run --rm`.
   */
  remove?: boolean;
  signal?: AbortSignal;
}

export interface StreamOptions {
  signal?: AbortSignal;
  /** How long the stream may go without a connection before the iterator throws (default 30 s). */
  reconnectTimeoutMs?: number;
}

export interface LogQuery {
  stream?: 'stdout' | 'stderr';
  /** The last N records kept in memory. */
  tail?: number;
  /** Only records with a greater seq. */
  after?: number;
}

type Ref = string;
const processPath = (ref: Ref, action = ''): string => `/v1/processes/${encodeURIComponent(ref)}${action}`;
const withQuery = (path: string, query: Record<string, string | number | boolean | undefined>): string => {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return text === '' ? path : `${path}?${text}`;
};

export class PidvisorClient {
  readonly #connection: Connection;
  readonly #retry: Required<RetryOptions>;

  /** With no options: the local daemon's unix socket ($PIDVISOR_SOCKET, else the default path). */
  constructor(options: ClientOptions = {}) {
    this.#connection = new Connection(options.url === undefined && options.socketPath === undefined ? { ...options, socketPath: defaultSocketPath() } : options);
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
  }

  /** Where requests go: unix:PATH or the URL. */
  get target(): string {
    return this.#connection.target;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.#connection.close();
  }

  // ---- the daemon ----

  /** GET /v1/system: version, kernel, detected features. */
  async system(options: { signal?: AbortSignal } = {}): Promise<SystemInfo> {
    return (await this.json<SystemInfo>('GET', '/v1/system', undefined, {}, options.signal)).body;
  }

  /** GET /healthz. */
  async health(options: { signal?: AbortSignal } = {}): Promise<Health> {
    return (await this.json<Health>('GET', '/healthz', undefined, {}, options.signal)).body;
  }

  /** GET /openapi.json: the OpenAPI 3.1 document of this daemon. */
  async openApi(): Promise<Record<string, unknown>> {
    return (await this.json<Record<string, unknown>>('GET', '/openapi.json')).body;
  }

  /** GET /metrics: the Prometheus text. */
  async metrics(): Promise<string> {
    return this.#withRetry('GET', null, async () => readBody(await this.#checked({ method: 'GET', path: '/metrics', headers: { accept: 'text/plain' } })));
  }

  /** POST /v1/ui/tickets: a single-use sign-in link to the web dashboard (`path`, on this listener). */
  async createDashboardTicket(): Promise<DashboardTicket> {
    return (await this.json<DashboardTicket>('POST', '/v1/ui/tickets')).body;
  }

  /** POST /v1/config/reload: re-read the config file; ApiError PIDVISOR_ERR_CONFIG_INVALID (with `problems`) when refused. */
  async reloadConfig(): Promise<ConfigChanges> {
    return (await this.json<ConfigChanges>('POST', '/v1/config/reload', {})).body;
  }

  /**
   * POST /v1/system/reexec: the daemon hands every service to pidvisor-keeper and exits; the
   * keeper re-executes itself and starts the new daemon, which restarts nothing. Resolves once
   * the hand-over has begun; the new daemon is up when system() answers with another `pid`.
   * ApiError PIDVISOR_ERR_NO_KEEPER when the daemon runs without the keeper.
   */
  async reexec(): Promise<ReexecAccepted> {
    return (await this.json<ReexecAccepted>('POST', '/v1/system/reexec', {})).body;
  }

  // ---- processes ----

  /** GET /v1/processes. */
  async list(): Promise<ProcessInfo[]> {
    return (await this.json<{ processes: ProcessInfo[] }>('GET', '/v1/processes')).body.processes;
  }

  /** GET /v1/graph: the dependency graph and the start order. */
  async graph(): Promise<DependencyGraph> {
    return (await this.json<DependencyGraph>('GET', '/v1/graph')).body;
  }

  /** GET /v1/processes/{id}: by id or name. */
  async get(ref: Ref): Promise<ProcessInfo> {
    return (await this.json<ProcessInfo>('GET', processPath(ref))).body;
  }

  /** GET /v1/processes/{id}/inspect: state, spec (env values hidden), tree, last exits. */
  async inspect(ref: Ref): Promise<ProcessInspection> {
    return (await this.json<ProcessInspection>('GET', processPath(ref, '/inspect'))).body;
  }

  /**
   * POST /v1/processes: answers once the process has exec'd (or is ready, or has exited: see
   * LaunchOptions); 422 PIDVISOR_ERR_SPAWN_FAILED with errno and stage otherwise.
   */
  async launch(spec: LaunchSpec, options: LaunchOptions = {}): Promise<ProcessInfo> {
    if (options.waitReady === true && options.waitExit === true) throw new TypeError('launch: waitReady and waitExit exclude each other');
    if (options.remove === true && options.waitExit !== true) throw new TypeError('launch: remove needs waitExit');
    const wait = options.waitReady === true ? 'ready' : options.waitExit === true ? 'exit' : undefined;
    const path = wait === undefined ? '/v1/processes' : `/v1/processes?wait=${wait}${options.remove === true ? '&remove=true' : ''}`;
    try {
      return (await this.json<ProcessInfo>('POST', path, spec, { 'idempotency-key': options.idempotencyKey ?? randomUUID() }, options.signal)).body;
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== 'PIDVISOR_ERR_WAIT_INTERRUPTED') throw error;
      return this.#waitAfterHandOver(error, options);
    }
  }

  /**
   * A launch with waitExit whose daemon handed over (reexec) before the exit: the process runs
   * on under the next daemon, which knows nothing of the wait. Its exit is awaited there (GET
   * /wait, which is retried across the hand-over), and the removal asked for is done here.
   */
  async #waitAfterHandOver(interrupted: ApiError, options: LaunchOptions): Promise<ProcessInfo> {
    const { id, instance } = interrupted.problem as unknown as { id: string; instance: string | null };
    const signal = options.signal === undefined ? {} : { signal: options.signal };
    // Each turn ends within a second: the wait answers this instance's exit, or times out and
    // the process says whether another instance (a restart) or none has replaced it.
    for (;;) {
      const waited = await this.wait(id, { timeoutMs: 1000, ...signal });
      if (waited.exit?.instance === instance || (await this.get(id)).instance !== instance) break;
    }
    return options.remove === true ? this.remove(id) : this.get(id);
  }

  /** POST /v1/processes/batch: all or nothing. */
  async launchMany(specs: LaunchSpec[], options: LaunchOptions = {}): Promise<ProcessInfo[]> {
    const headers = { 'idempotency-key': options.idempotencyKey ?? randomUUID() };
    return (await this.json<{ processes: ProcessInfo[] }>('POST', '/v1/processes/batch', { processes: specs }, headers, options.signal)).body.processes;
  }

  /** POST /v1/processes/{id}/start. */
  async start(ref: Ref): Promise<ProcessInfo> {
    return (await this.json<ProcessInfo>('POST', processPath(ref, '/start'), {})).body;
  }

  /**
   * POST /v1/processes/{id}/stop: answers once the whole tree is gone. With `instance`, only
   * if it is still the current one (else PIDVISOR_ERR_INSTANCE_MISMATCH, nothing stopped).
   */
  async stop(ref: Ref, options: StopRequest = {}): Promise<ProcessInfo> {
    return (await this.json<ProcessInfo>('POST', processPath(ref, '/stop'), stopBody(options))).body;
  }

  /** POST /v1/processes/{id}/restart; `instance` as for stop. */
  async restart(ref: Ref, options: StopRequest = {}): Promise<ProcessInfo> {
    return (await this.json<ProcessInfo>('POST', processPath(ref, '/restart'), stopBody(options))).body;
  }

  /** DELETE /v1/processes/{id}: stop and forget, with the logs; the last state. */
  async remove(ref: Ref, options: { timeoutMs?: number } = {}): Promise<ProcessInfo> {
    return (await this.json<ProcessInfo>('DELETE', withQuery(processPath(ref), { timeoutMs: options.timeoutMs }))).body;
  }

  /** DELETE /v1/processes?label=...|all=true: every process with all these labels (or all), in parallel. */
  async removeMatching(selector: { labels: Record<string, string> } | { all: true }, options: { timeoutMs?: number } = {}): Promise<ProcessInfo[]> {
    const search = new URLSearchParams();
    if ('all' in selector) search.set('all', 'true');
    else for (const [key, value] of Object.entries(selector.labels)) search.append('label', `${key}=${value}`);
    if (options.timeoutMs !== undefined) search.set('timeoutMs', String(options.timeoutMs));
    return (await this.json<{ processes: ProcessInfo[] }>('DELETE', `/v1/processes?${search}`)).body.processes;
  }

  /**
   * POST /v1/processes/{id}/signal, through the current instance's pidfd. With `instance`,
   * only if it is still current (else PIDVISOR_ERR_INSTANCE_MISMATCH, nothing sent).
   */
  async signal(ref: Ref, signal: SignalRequest['signal'], options: { instance?: string; target?: 'process' | 'group' } = {}): Promise<SignalResult> {
    const body: SignalRequest = { signal, ...(options.instance === undefined ? {} : { instance: options.instance }), ...(options.target === undefined ? {} : { target: options.target }) };
    return (await this.json<SignalResult>('POST', processPath(ref, '/signal'), body)).body;
  }

  /** GET /v1/processes/{id}/wait: until the current instance exits (or timeoutMs: `timedOut`). */
  async wait(ref: Ref, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<WaitResult> {
    return (await this.json<WaitResult>('GET', withQuery(processPath(ref, '/wait'), { timeoutMs: options.timeoutMs }), undefined, {}, options.signal)).body;
  }

  /** GET /v1/processes/{id}/logs: the records kept in memory, oldest first. */
  async logs(ref: Ref, query: LogQuery = {}): Promise<LogRecord[]> {
    const text = await this.#withRetry('GET', null, async () => readBody(await this.#checked({ method: 'GET', path: logsPath(ref, query, false) })));
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => decodeLogLine(JSON.parse(line) as LogLine));
  }

  /**
   * GET /v1/processes/{id}/logs?follow=true as an async iterator: the records kept, then
   * each new one as it is captured. When the connection is cut (the daemon restarted, or
   * dropped this reader for falling behind) it reconnects with `after` = the last seq
   * yielded: no record twice, none skipped that the daemon still holds. It ends when the
   * process is removed. The process is pinned by id at the start: a new one with the same
   * name is not followed.
   */
  async *followLogs(ref: Ref, query: LogQuery & StreamOptions = {}): AsyncGenerator<LogRecord, void, undefined> {
    const id = (await this.get(ref)).id;
    let after = query.after;
    let first = true;
    let servedBy: string | null = null;
    const reconnect = new Reconnection(query);
    for (;;) {
      let response: IncomingMessage;
      try {
        // A daemon numbers the records it captures from 1 (one started by the keeper after a
        // crash too): all those of a new daemon are new to us, whatever `after` was.
        const daemon = await this.#daemonIdentity(query.signal);
        if (servedBy !== null && daemon !== servedBy) after = undefined;
        servedBy = daemon;
        const resume = { ...(query.stream === undefined ? {} : { stream: query.stream }), ...(first && query.tail !== undefined ? { tail: query.tail } : {}), ...(after === undefined ? {} : { after }) };
        response = await this.#streamOpen(logsPath(id, resume, true), {}, query.signal);
      } catch (error) {
        if (!first && error instanceof ApiError && error.code === 'PIDVISOR_ERR_NOT_FOUND') return; // removed while we were away
        await reconnect.failed(error);
        continue;
      }
      first = false;
      reconnect.connected();
      try {
        for await (const line of lines(response)) {
          if (line === '') continue;
          const record = JSON.parse(line) as LogLine | { code: string; after?: number };
          if ('code' in record) {
            // Dropped for reading too slowly: resume after the last record the daemon sent.
            if (typeof record.after === 'number' && record.after > (after ?? 0)) after = record.after;
            break;
          }
          if (after !== undefined && record.seq <= after) continue;
          after = record.seq;
          yield decodeLogLine(record);
        }
      } catch (error) {
        if (query.signal?.aborted) throw query.signal.reason;
        if (error instanceof SyntaxError) throw error; // else the connection broke: reconnect
      } finally {
        response.destroy();
      }
    }
  }

  /**
   * GET /v1/events as an async iterator of events (and `gap`/`reset` notices). When the
   * connection is cut it reconnects with Last-Event-ID: no event twice, none skipped that
   * the daemon still holds (a `gap` says which it no longer does). Without `after` it starts
   * with the next event; with `after: 0` it replays every event kept. Never ends by itself.
   */
  async *events(options: { after?: number } & StreamOptions = {}): AsyncGenerator<StreamedEvent, void, undefined> {
    let lastId = options.after;
    const reconnect = new Reconnection(options);
    for (;;) {
      let response: IncomingMessage;
      try {
        response = await this.#streamOpen('/v1/events', { accept: 'text/event-stream', ...(lastId === undefined ? {} : { 'last-event-id': String(lastId) }) }, options.signal);
      } catch (error) {
        await reconnect.failed(error);
        continue;
      }
      reconnect.connected();
      try {
        for await (const message of serverSentEvents(response)) {
          if (message.retryMs !== null) reconnect.delayMs = message.retryMs;
          if (message.id !== null && /^\d+$/.test(message.id)) lastId = Number(message.id);
          if (message.data === '') continue;
          const data = JSON.parse(message.data) as Record<string, unknown>;
          if (message.event === 'dropped') {
            if (typeof data.lastEventId === 'number') lastId = data.lastEventId;
            break;
          }
          if (message.event === 'gap') yield { type: 'gap', after: Number(data.after), oldest: Number(data.oldest) };
          else if (message.event === 'reset') yield { type: 'reset', after: Number(data.after), lastSeq: Number(data.lastSeq) };
          else yield data as unknown as SupervisorEvent;
        }
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (error instanceof SyntaxError) throw error; // else the connection broke: reconnect
      } finally {
        response.destroy();
      }
    }
  }

  // ---- any route ----

  /**
   * One request with a JSON answer, retried where safe (retry.ts). For routes this client
   * has no method for yet; ApiError for any answer of 400 or more.
   */
  async json<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<JsonResponse<T>> {
    return this.#withRetry(method, headers['idempotency-key'] ?? null, async () => {
      const response = await this.#send({ method, path, body, headers, ...(signal === undefined ? {} : { signal }) });
      const text = await readBody(response);
      const parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
      const status = response.statusCode ?? 500;
      if (status >= 400) throw new ApiError(status, parsed, headerOf(response, 'retry-after'));
      return { status, headers: response.headers, body: parsed as T };
    }, signal);
  }

  /** Opens a request and resolves with the response head (any status under 400); the caller reads the body. */
  async open(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<IncomingMessage> {
    return this.#withRetry(method, headers['idempotency-key'] ?? null, () => this.#checked({ method, path, body, headers, ...(signal === undefined ? {} : { signal }) }), signal);
  }

  #send(request: RawRequest): Promise<IncomingMessage> {
    return this.#connection.send(request);
  }

  /** The response, or the ApiError of its problem body. */
  async #checked(request: RawRequest): Promise<IncomingMessage> {
    const response = await this.#send(request);
    const status = response.statusCode ?? 500;
    if (status < 400) return response;
    const text = await readBody(response);
    throw new ApiError(status, text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headerOf(response, 'retry-after'));
  }

  /** Which daemon answers: its pid and start time (a new one after a restart). */
  async #daemonIdentity(signal: AbortSignal | undefined): Promise<string> {
    const response = await this.#checked({ method: 'GET', path: '/v1/system', ...(signal === undefined ? {} : { signal }) });
    const system = JSON.parse(await readBody(response)) as SystemInfo;
    return `${system.pid}@${system.startedAt}`;
  }

  /** A stream's request: not retried here (the iterator's reconnection decides). */
  #streamOpen(path: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    return this.#checked({ method: 'GET', path, headers, ...(signal === undefined ? {} : { signal }) });
  }

  async #withRetry<T>(method: string, idempotencyKey: string | null, attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let tried = 1; ; tried++) {
      try {
        return await attempt();
      } catch (error) {
        const lost = error instanceof ConnectionLostError && error.idempotencyKey === null && idempotencyKey !== null ? new ConnectionLostError(error.message, error.code, idempotencyKey, { cause: error }) : error;
        const delay = retryDelay(method, lost, tried, this.#retry);
        if (delay === null) throw lost;
        await sleep(delay, signal);
      }
    }
  }
}

/**
 * The reconnection of a stream: retried while the failures are ones a restarting daemon
 * gives (retry.ts), for at most reconnectTimeoutMs since the last working connection.
 */
class Reconnection {
  /** The server's `retry:` (server-sent events), else 1 s. */
  delayMs = 1000;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;
  #failingSince: number | null = null;
  #failures = 0;

  constructor(options: StreamOptions) {
    this.#timeoutMs = options.reconnectTimeoutMs ?? 30_000;
    this.#signal = options.signal;
  }

  connected(): void {
    this.#failingSince = null;
    this.#failures = 0;
  }

  /** Waits before the next try, or throws `error` when it cannot be retried or it is too late. */
  async failed(error: unknown): Promise<void> {
    if (this.#signal?.aborted) throw this.#signal.reason;
    if (!isRetryable('GET', error)) throw error;
    const now = Date.now();
    this.#failingSince ??= now;
    if (now - this.#failingSince >= this.#timeoutMs) throw error;
    // The first retry comes soon (a keeper restarts its daemon within tens of ms), the next ones after `retry:`.
    const backoff = this.#failures++ === 0 ? Math.min(100, this.delayMs) : this.delayMs;
    const retryAfter = error instanceof ApiError && error.retryAfterSeconds !== null ? error.retryAfterSeconds * 1000 : 0;
    await sleep(Math.min(Math.max(backoff, retryAfter), this.#timeoutMs), this.#signal);
  }
}

/** The stop or restart body, without members left undefined (the schema refuses them as null). */
function stopBody(options: StopRequest): StopRequest {
  return { ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }), ...(options.instance === undefined ? {} : { instance: options.instance }) };
}

function logsPath(ref: Ref, query: LogQuery, follow: boolean): string {
  return withQuery(processPath(ref, '/logs'), { stream: query.stream, tail: query.tail, after: query.after, follow: follow ? 'true' : undefined });
}

function decodeLogLine(line: LogLine): LogRecord {
  return { seq: line.seq, time: line.time, stream: line.stream, partial: line.partial, data: Buffer.from(line.data, 'base64') };
}

function headerOf(response: IncomingMessage, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The body as text; a connection that breaks while it is read is a ConnectionLostError (the daemon did answer). */
async function readBody(response: IncomingMessage): Promise<string> {
  try {
    return await readAll(response);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'ECONNRESET';
    throw new ConnectionLostError(`the connection broke while the answer was read (${code})`, code, null, { cause: error });
  }
}

