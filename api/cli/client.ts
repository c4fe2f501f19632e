// The CLI's HTTP client: the daemon's unix socket by default, or a TCP URL with a bearer
// token. Errors from the daemon arrive as application/problem+json with a stable `code`.
import fs from 'node:fs';
import http from 'node:http';

export interface ClientOptions {
  socketPath?: string;
  /** http://host:port of a TCP listener; needs a token. */
  url?: string;
  token?: string;
}

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly code: string;
  readonly body: Record<string, unknown>;

  constructor(status: number, body: Record<string, unknown>) {
    super(String(body.detail ?? body.title ?? `HTTP ${status}`));
    this.status = status;
    this.code = String(body.code ?? `HTTP_${status}`);
    this.body = body;
  }
}

/** The daemon could not be reached at all (not running, wrong socket, no permission). */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
}

export interface JsonResponse<T> {
  status: number;
  body: T;
}

export class ApiClient {
  readonly #options: ClientOptions;

  constructor(options: ClientOptions) {
    this.#options = options;
  }

  /** Describes where requests go, for messages. */
  get target(): string {
    return this.#options.url ?? `unix:${this.#options.socketPath}`;
  }

  async json<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonResponse<T>> {
    const response = await this.open(method, path, body, headers);
    const text = await readAll(response);
    const parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    if ((response.statusCode ?? 500) >= 400) throw new ApiError(response.statusCode ?? 500, parsed);
    return { status: response.statusCode ?? 200, body: parsed as T };
  }

  /** Starts a request and resolves with the response head; the caller reads the stream. */
  open(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<http.IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const url = this.#options.url === undefined ? undefined : new URL(path, this.#options.url);
    const requestOptions: http.RequestOptions = {
      method,
      path: url === undefined ? path : `${url.pathname}${url.search}`,
      headers: {
        accept: 'application/json',
        ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
        ...(this.#options.token === undefined ? {} : { authorization: `Bearer ${this.#options.token}` }),
        ...headers,
      },
      ...(url === undefined ? { socketPath: this.#options.socketPath } : { host: url.hostname, port: url.port }),
    };
    return new Promise((resolve, reject) => {
      const request = http.request(requestOptions, (response) => {
        if ((response.statusCode ?? 500) >= 400 && !(response.headers['content-type'] ?? '').includes('json')) {
          readAll(response).then((text) => reject(new ApiError(response.statusCode ?? 500, { detail: text || `HTTP ${response.statusCode}` })), reject);
          return;
        }
        resolve(response);
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (['ENOENT', 'ECONNREFUSED', 'EACCES', 'ECONNRESET', 'EPIPE'].includes(error.code ?? '')) {
          reject(new UnreachableError(`cannot reach the pidvisor daemon at ${this.target}: ${error.code}${hint(error.code)}`));
        } else {
          reject(error);
        }
      });
      request.end(payload);
    });
  }
}

function hint(code: string | undefined): string {
  if (code === 'ENOENT' || code === 'ECONNREFUSED') return ' (is `pidvisor daemon` running? set --socket or PIDVISOR_SOCKET)';
  if (code === 'EACCES') return ' (the socket is only for the daemon user and root)';
  if (code === 'ECONNRESET' || code === 'EPIPE') return ' (the daemon closed the connection: is this uid allowed?)';
  return '';
}

export function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

/** A token from a file, trimmed of the trailing newline editors add. */
export function readToken(file: string): string {
  return fs.readFileSync(file, 'utf8').trim();
}
