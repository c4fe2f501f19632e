// The CLI's HTTP client: the daemon's unix socket by default, or a TCP URL with a bearer
// token. Errors from the daemon arrive as application/problem+json with a stable `code`.
//
// The token never crosses a network in clear text: https:// URLs are spoken over TLS (the
// certificate checked against Node's CA store, plus --ca-file), and an http:// URL is
// refused, before any connection, unless its host is a loopback address or `localhost`.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

export interface ClientOptions {
  socketPath?: string;
  /** http://host:port (loopback only) or https://host:port of a TCP listener; needs a token. */
  url?: string;
  token?: string;
  /** PEM file of the CA (or the self-signed certificate) that signed the daemon's certificate. */
  caFile?: string;
}

/** The URL cannot be used without sending the token where it must not go. */
export class InsecureUrlError extends Error {
  override name = 'InsecureUrlError';
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
  readonly #url: URL | null;
  readonly #tls: https.RequestOptions | null;

  constructor(options: ClientOptions) {
    this.#options = options;
    this.#url = options.url === undefined ? null : checkedUrl(options.url);
    this.#tls = this.#url?.protocol === 'https:' ? tlsOptions(options.caFile) : null;
    if (options.caFile !== undefined && this.#tls === null) throw new InsecureUrlError('--ca-file needs an https:// --url');
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
    const url = this.#url === null ? undefined : new URL(path, this.#url);
    const requestOptions: https.RequestOptions = {
      method,
      path: url === undefined ? path : `${url.pathname}${url.search}`,
      headers: {
        accept: 'application/json',
        ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
        ...(this.#options.token === undefined ? {} : { authorization: `Bearer ${this.#options.token}` }),
        ...headers,
      },
      ...(url === undefined ? { socketPath: this.#options.socketPath } : { host: bareHost(url.hostname), port: url.port }),
      ...this.#tls,
    };
    return new Promise((resolve, reject) => {
      const request = (this.#tls === null ? http : https).request(requestOptions, (response) => {
        if ((response.statusCode ?? 500) >= 400 && !(response.headers['content-type'] ?? '').includes('json')) {
          readAll(response).then((text) => reject(new ApiError(response.statusCode ?? 500, { detail: text || `HTTP ${response.statusCode}` })), reject);
          return;
        }
        resolve(response);
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (['ENOENT', 'ECONNREFUSED', 'EACCES', 'ECONNRESET', 'EPIPE', 'EPROTO'].includes(error.code ?? '') || isCertificateError(error)) {
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
  if (code === 'EPROTO') return ' (no TLS there: is the daemon started with --tls-cert?)';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return " (the daemon's certificate is not for this host name)";
  if (code !== undefined && /CERT|SIGNATURE|ISSUER/.test(code)) return " (the daemon's certificate is not trusted: give its CA, or the self-signed certificate, with --ca-file)";
  return '';
}

function isCertificateError(error: NodeJS.ErrnoException): boolean {
  return /CERT|SIGNATURE|ISSUER/.test(error.code ?? '');
}

/**
 * The URL, if the token may be sent there: https:// anywhere, http:// only to this machine.
 * A host name other than `localhost` could resolve anywhere, so it needs https too.
 */
function checkedUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InsecureUrlError(`--url takes http://HOST:PORT or https://HOST:PORT, not ${JSON.stringify(text)}`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol !== 'http:') throw new InsecureUrlError(`--url takes an http:// or https:// URL, not ${url.protocol}`);
  if (!isLoopbackHost(url.hostname)) {
    throw new InsecureUrlError(
      `refusing to send the bearer token in clear text to ${url.host}: use https://${url.host} (the daemon with --tls-cert; --ca-file for a private CA), or a loopback address`,
    );
  }
  return url;
}

function isLoopbackHost(hostname: string): boolean {
  const host = bareHost(hostname);
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1';
}

/** URL keeps the brackets of an IPv6 host; connect() wants the address alone. */
function bareHost(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}

/**
 * Node's CA store (its bundled roots, NODE_EXTRA_CA_CERTS, or the system's with
 * NODE_OPTIONS=--use-openssl-ca), plus the CA file if given: a `ca` option replaces the
 * defaults, so they are listed too.
 */
function tlsOptions(caFile: string | undefined): https.RequestOptions {
  if (caFile === undefined) return { rejectUnauthorized: true };
  let ca: Buffer;
  try {
    ca = fs.readFileSync(caFile);
  } catch (error) {
    throw new InsecureUrlError(`cannot read --ca-file ${caFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return { rejectUnauthorized: true, ca: [...tls.rootCertificates, ca] };
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
