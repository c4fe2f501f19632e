// Where the daemon is and how to reach it: its unix socket (the default), or a TCP listener
// with a bearer token, over TLS checked against Node's CA store plus a CA of the caller's.
// One request here is one HTTP exchange; retries are decided by the client (retry.ts).
//
// The token never crosses a network in clear text: an http:// URL is refused before any
// connection unless its host is a loopback address or `localhost`.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { ApiError, ConnectionLostError, InsecureUrlError, UnreachableError } from './errors.js';

export interface ConnectionOptions {
  /** The daemon's unix socket (the CLI's default: $PIDVISOR_SOCKET, else the daemon's default path). */
  socketPath?: string;
  /** http://127.0.0.1:PORT (loopback only) or https://HOST:PORT of a TCP listener (`daemon --listen`); needs `token`. */
  url?: string;
  /** Bearer token of the TCP listener. */
  token?: string;
  /** PEM certificate(s) to trust besides Node's CA store, e.g. the daemon's self-signed certificate. */
  ca?: string | Buffer;
  /** The same, read from a file. */
  caFile?: string;
}

export interface RawRequest {
  method: string;
  /** Path and query, e.g. /v1/processes?all=true. */
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Errors met before a connection was made or while it was being secured: nothing was sent. */
const NOT_SENT = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTSOCK', 'EPROTO', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export class Connection {
  readonly #socketPath: string | undefined;
  readonly #url: URL | null;
  readonly #token: string | undefined;
  readonly #tls: https.RequestOptions | null;
  readonly #agent: http.Agent;

  constructor(options: ConnectionOptions) {
    this.#url = options.url === undefined ? null : checkedUrl(options.url);
    if (this.#url === null && options.socketPath === undefined) throw new InsecureUrlError('give socketPath or url');
    if (this.#url !== null && options.token === undefined) throw new InsecureUrlError('a url needs a token: the daemon serves TCP clients only with its bearer token');
    const ca = caOf(options);
    if (ca !== undefined && this.#url?.protocol !== 'https:') throw new InsecureUrlError('a CA (--ca-file) goes with an https:// url');
    this.#socketPath = options.socketPath;
    this.#token = options.token;
    this.#tls = this.#url?.protocol === 'https:' ? { rejectUnauthorized: true, ...(ca === undefined ? {} : { ca: [...tls.rootCertificates, ca] }) } : null;
    // Keep-alive: a session of requests (a bulk stop, a poll) reuses its connection. Idle
    // sockets are unref'd by the agent, so they never keep the caller's process alive.
    this.#agent = this.#tls === null ? new http.Agent({ keepAlive: true }) : new https.Agent({ keepAlive: true });
  }

  /** Where requests go, for messages: unix:/run/pidvisor/pidvisor.sock or the URL. */
  get target(): string {
    return this.#url?.href.replace(/\/$/, '') ?? `unix:${this.#socketPath}`;
  }

  /** Closes idle connections; requests in flight go on. */
  close(): void {
    this.#agent.destroy();
  }

  /**
   * Sends one request and resolves with the response head (the caller reads the body). An
   * answer of 400 or more that is not JSON is turned into an ApiError here.
   */
  send(request: RawRequest): Promise<http.IncomingMessage> {
    const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
    const url = this.#url === null ? undefined : new URL(request.path, this.#url);
    const options: https.RequestOptions = {
      method: request.method,
      path: url === undefined ? request.path : `${url.pathname}${url.search}`,
      agent: this.#agent,
      headers: {
        accept: 'application/json',
        ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
        ...(this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` }),
        ...request.headers,
      },
      ...(url === undefined ? { socketPath: this.#socketPath } : { host: bareHost(url.hostname), port: url.port }),
      ...this.#tls,
      ...(request.signal === undefined ? {} : { signal: request.signal }),
    };
    const idempotencyKey = request.headers?.['idempotency-key'] ?? null;
    return new Promise((resolve, reject) => {
      let connected = false;
      const outgoing = (this.#tls === null ? http : https).request(options, (response) => {
        const status = response.statusCode ?? 500;
        if (status >= 400 && !(response.headers['content-type'] ?? '').includes('json')) {
          readAll(response).then((text) => reject(new ApiError(status, { detail: text || `HTTP ${status}` })), reject);
          return;
        }
        resolve(response);
      });
      outgoing.on('socket', (socket: net.Socket) => {
        // A reused keep-alive socket is connected already; a new one once it connects (over TLS: once secured).
        if (!socket.connecting) connected = true;
        else socket.once(this.#tls === null ? 'connect' : 'secureConnect', () => (connected = true));
      });
      outgoing.on('error', (error: NodeJS.ErrnoException) => reject(this.#classify(error, connected, outgoing.reusedSocket, idempotencyKey)));
      outgoing.end(payload);
    });
  }

  #classify(error: NodeJS.ErrnoException, connected: boolean, reusedSocket: boolean, idempotencyKey: string | null): Error {
    if (error.name === 'AbortError') return error;
    const code = error.code ?? 'EUNKNOWN';
    // A keep-alive socket the daemon closed while idle fails the next request at once, before
    // the daemon read it (Node's documentation: retry then). So does a connection never made.
    if (NOT_SENT.has(code) || isCertificateError(code) || !connected || (reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE'))) {
      return new UnreachableError(`cannot reach the pidvisor daemon at ${this.target}: ${code}${hint(code)}`, code, { cause: error });
    }
    return new ConnectionLostError(
      `the connection to the pidvisor daemon at ${this.target} broke before it answered (${code}${hint(code)}): the request may or may not have been carried out`,
      code,
      idempotencyKey,
      { cause: error },
    );
  }
}

function hint(code: string): string {
  if (code === 'ENOENT' || code === 'ECONNREFUSED') return ' (is `pidvisor daemon` running? set --socket or PIDVISOR_SOCKET)';
  if (code === 'EACCES') return ' (the socket is only for the daemon user and root)';
  if (code === 'ECONNRESET' || code === 'EPIPE') return ' (the daemon closed the connection: is this uid allowed?)';
  if (code === 'EPROTO') return ' (no TLS there: is the daemon started with --tls-cert?)';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return " (the daemon's certificate is not for this host name)";
  if (isCertificateError(code)) return " (the daemon's certificate is not trusted: give its CA, or the self-signed certificate, with --ca-file)";
  return '';
}

function isCertificateError(code: string): boolean {
  return /CERT|SIGNATURE|ISSUER/.test(code);
}

function caOf(options: ConnectionOptions): string | Buffer | undefined {
  if (options.caFile === undefined) return options.ca;
  try {
    return fs.readFileSync(options.caFile);
  } catch (error) {
    throw new InsecureUrlError(`cannot read the CA file ${options.caFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
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
    throw new InsecureUrlError(`the url takes http://HOST:PORT or https://HOST:PORT, not ${JSON.stringify(text)}`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol !== 'http:') throw new InsecureUrlError(`the url takes http:// or https://, not ${url.protocol}`);
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

export function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}
