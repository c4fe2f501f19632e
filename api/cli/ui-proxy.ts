// What `pidvisor ui` runs for a daemon on its unix socket (no browser can speak to one): a
// loopback HTTP port that forwards the dashboard's requests to the socket, as Jupyter
// serves a notebook. Browsers get in as they do on the daemon's own TCP listener
// (api/server/ui-session.ts): a one-time ticket from the printed link buys an HttpOnly,
// SameSite=Strict session cookie; nothing else is forwarded without it, except the
// dashboard's own files. Host must be a loopback name with this port (DNS rebinding), and
// a request from another origin is refused. The daemon sees every request as coming from
// this process (its uid and pid, by SO_PEERCRED), so its limits and audit apply as to any
// other client of the socket.
import http from 'node:http';
import type net from 'node:net';
import { ApiError, PROBLEM_CONTENT_TYPE, problemBody, type ErrorCode } from '../server/errors.js';
import { UiSessions, clearedSessionCookie, isSameOrigin, sessionCookie } from '../server/ui-session.js';

export interface UiProxyOptions {
  socketPath: string;
  /** A loopback address; default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  sessions?: UiSessions;
}

export interface UiProxy {
  /** http://HOST:PORT */
  origin: string;
  /** A new one-time link that signs a browser in. */
  signInUrl(): string;
  close(): Promise<void>;
}

/** Headers that authenticate or place the browser: they stop here, the socket needs none. */
const BROWSER_ONLY_HEADERS = ['cookie', 'authorization', 'origin', 'referer', 'sec-fetch-site', 'sec-fetch-mode', 'sec-fetch-dest', 'sec-fetch-user', 'host'];
const MAX_SIGN_IN_BODY = 4096;
const PUBLIC_FILE = /^\/ui(?:\/(?:[a-z0-9][a-z0-9-]{0,63}\.(?:html|js|css|svg))?)?$/;

export async function startUiProxy(options: UiProxyOptions): Promise<UiProxy> {
  const sessions = options.sessions ?? new UiSessions();
  const host = options.host ?? '127.0.0.1';
  const allowedHosts = new Set<string>();
  const server = http.createServer((request, response) => {
    handle(request, response).catch((error: unknown) => refuse(response, 'PIDVISOR_ERR_INTERNAL', (error as Error).message));
  });

  async function handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const hostHeader = (request.headers.host ?? '').toLowerCase();
    if (!allowedHosts.has(hostHeader)) return refuse(response, 'PIDVISOR_ERR_CROSS_ORIGIN', `Host ${JSON.stringify(hostHeader.slice(0, 100))} is not this dashboard's`);
    const origin = `http://${hostHeader}`;
    const site = request.headers['sec-fetch-site'];
    if ((request.headers.origin !== undefined && request.headers.origin !== origin) || (request.headers.origin === undefined && typeof site === 'string' && site !== 'same-origin' && site !== 'none')) {
      return refuse(response, 'PIDVISOR_ERR_CROSS_ORIGIN', 'requests from other origins are refused');
    }
    const pathname = (request.url ?? '/').split('?')[0]!;
    if (pathname === '/ui/session') return signIn(request, response);
    const isPublic = request.method === 'GET' && PUBLIC_FILE.test(pathname);
    if (!isPublic) {
      if (!sessions.hasSession(request.headers.cookie)) return refuse(response, 'PIDVISOR_ERR_UNAUTHORIZED', 'sign in with the link `pidvisor ui` printed');
      const safe = request.method === 'GET' || request.method === 'HEAD';
      if (!safe && !isSameOrigin(request.headers, origin)) return refuse(response, 'PIDVISOR_ERR_CROSS_ORIGIN', 'a dashboard session may change things only from a page of this origin');
    }
    forward(request, response);
  }

  async function signIn(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    if (request.method === 'DELETE') {
      sessions.endSession(request.headers.cookie);
      response.writeHead(204, { 'set-cookie': clearedSessionCookie(false) }).end();
      return;
    }
    if (request.method !== 'POST') return refuse(response, 'PIDVISOR_ERR_ROUTE_NOT_FOUND', `no route ${request.method} /ui/session`);
    const ticket = ticketOf(await readBody(request));
    if (ticket === null || !sessions.redeemTicket(ticket)) {
      return refuse(response, 'PIDVISOR_ERR_UNAUTHORIZED', 'the ticket is not valid: used already, expired, or never issued; run `pidvisor ui` again');
    }
    const session = sessions.createSession();
    response.writeHead(204, { 'set-cookie': sessionCookie(session.id, session.maxAgeSeconds, false), 'cache-control': 'no-store' }).end();
  }

  function forward(request: http.IncomingMessage, response: http.ServerResponse): void {
    const headers = { ...request.headers };
    for (const name of BROWSER_ONLY_HEADERS) delete headers[name];
    const upstream = http.request({ socketPath: options.socketPath, method: request.method, path: request.url, headers: { ...headers, host: 'localhost' } }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    // A browser that leaves (a closed tab, a log view closed) ends the daemon's stream too.
    response.once('close', () => upstream.destroy());
    upstream.once('error', () => {
      if (!response.headersSent) refuse(response, 'PIDVISOR_ERR_SHUTTING_DOWN', `the daemon at ${options.socketPath} does not answer`);
      else response.destroy();
    });
    request.pipe(upstream);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  const bound = host.includes(':') ? `[${host}]` : host;
  for (const name of [bound, 'localhost', '127.0.0.1', '[::1]']) allowedHosts.add(`${name}:${port}`);
  const origin = `http://${bound}:${port}`;
  return {
    origin,
    signInUrl: () => `${origin}/ui/#ticket=${sessions.issueTicket().ticket}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function refuse(response: http.ServerResponse, code: ErrorCode, detail: string): void {
  const body = problemBody(new ApiError(code, detail));
  response.writeHead(body.status, { 'content-type': PROBLEM_CONTENT_TYPE, ...(code === 'PIDVISOR_ERR_UNAUTHORIZED' ? { 'www-authenticate': 'Bearer realm="pidvisor"' } : {}) });
  response.end(JSON.stringify(body));
}

function readBody(request: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > MAX_SIGN_IN_BODY) request.destroy(new Error('sign-in body too large'));
    });
    request.on('end', () => resolve(text));
    request.on('error', reject);
  });
}

function ticketOf(body: string): string | null {
  try {
    const parsed = JSON.parse(body) as { ticket?: unknown };
    return typeof parsed?.ticket === 'string' && /^[A-Za-z0-9_-]{16,128}$/.test(parsed.ticket) ? parsed.ticket : null;
  } catch {
    return null;
  }
}
