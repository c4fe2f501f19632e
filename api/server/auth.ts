// Who is calling, and may they. A unix-socket caller is known by its credentials
// (SO_PEERCRED, read by the transport when the connection is accepted: a uid that is not
// allowed never gets past the first byte). A TCP caller must present the bearer token (or
// the dashboard's session cookie, which only the token or a ticket buys: ui-session.ts),
// and name a loopback Host (or one configured), so a web page cannot drive the daemon
// through a browser (DNS rebinding). A request with a foreign Origin is refused on every
// transport; the daemon's own origin is foreign everywhere but on its TCP listener.
import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';
import { isSameOrigin, type UiSessions } from './ui-session.js';

/** What the transport learnt about a connection when it accepted it. */
export type ConnectionInfo =
  | { transport: 'unix'; uid: number; gid: number; pid: number }
  | {
      transport: 'tcp';
      remoteAddress: string;
      tokenDigest: Buffer;
      allowedHosts: ReadonlySet<string>;
      /** Called when a request on the connection has presented the token. */
      authenticated: () => void;
    };

export interface Peer {
  transport: 'unix' | 'tcp' | 'inject';
  uid: number | null;
  pid: number | null;
  address: string | null;
}

const connections = new WeakMap<object, ConnectionInfo>();

export function tagConnection(socket: net.Socket, info: ConnectionInfo): void {
  connections.set(socket, info);
}

/**
 * The connection of a request: null for a real socket that did not come through our
 * transport (refused: we know nothing of it), 'inject' for fastify's in-process inject().
 */
export function connectionOf(request: FastifyRequest): ConnectionInfo | 'inject' | null {
  const socket = request.raw.socket as object | undefined;
  if (socket === undefined) return null;
  const info = connections.get(socket);
  if (info !== undefined) return info;
  return socket instanceof net.Socket ? null : 'inject';
}

export function peerOf(request: FastifyRequest): Peer {
  const connection = connectionOf(request);
  if (connection === 'inject' || connection === null) return { transport: 'inject', uid: null, pid: null, address: null };
  if (connection.transport === 'unix') return { transport: 'unix', uid: connection.uid, pid: connection.pid, address: null };
  return { transport: 'tcp', uid: null, pid: null, address: connection.remoteAddress };
}

/**
 * The key of a caller for limits: its uid on the socket, its address over TCP. The token
 * is checked first (app.ts), so over TCP this counts only callers that hold it.
 */
export function rateKeyOf(peer: Peer): string {
  if (peer.transport === 'unix') return `uid:${peer.uid}`;
  if (peer.transport === 'tcp') return `tcp:${peer.address}`;
  return 'inject';
}

/** The scope of idempotency keys: callers cannot see each other's launches. */
export function principalOf(peer: Peer): string {
  if (peer.transport === 'unix') return `uid:${peer.uid}`;
  return peer.transport; // every TCP caller holds the same token
}

/**
 * Refuses requests a browser made for a page of another origin. Our clients (the CLI,
 * scripts) send no Origin; `allowedOrigins` lists any that should pass.
 */
export function checkOrigin(request: FastifyRequest, allowedOrigins: ReadonlySet<string>): void {
  const origin = request.headers.origin;
  if (origin !== undefined && !allowedOrigins.has(origin) && origin !== ownOrigin(request)) {
    throw new ApiError('PIDVISOR_ERR_CROSS_ORIGIN', `requests from origin ${JSON.stringify(clip(origin))} are refused`);
  }
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none' && origin === undefined) {
    throw new ApiError('PIDVISOR_ERR_CROSS_ORIGIN', `a ${site} browser request is refused`);
  }
}

/**
 * How a request was let through: the transport vetted it (unix, inject), it showed the
 * token, a dashboard session cookie, or nothing (a public route: the dashboard's files).
 */
export type AuthMethod = 'unix' | 'inject' | 'token' | 'session' | 'none';

/**
 * Lets through unix and inject callers (the transport vetted them) and TCP callers with
 * the token or a session; others only on a public route. A session's request that changes
 * something must come from a page of the daemon's own origin (CSRF: SameSite=Strict
 * already keeps other sites' requests from carrying the cookie; this is the second lock).
 */
export function checkAuth(request: FastifyRequest, sessions: UiSessions, publicRoute: boolean): AuthMethod {
  const connection = connectionOf(request);
  if (connection === null) throw new ApiError('PIDVISOR_ERR_FORBIDDEN', 'the connection did not come through the pidvisor transport');
  if (connection === 'inject') return 'inject';
  if (connection.transport === 'unix') return 'unix';
  const host = hostName(request.headers.host);
  if (host === null || !connection.allowedHosts.has(host)) {
    throw new ApiError(
      'PIDVISOR_ERR_CROSS_ORIGIN',
      `Host ${JSON.stringify(clip(request.headers.host ?? ''))} is not one this daemon answers to (the daemon accepts more names with --allow-host)`,
    );
  }
  const header = request.headers.authorization;
  if (header === undefined && sessions.hasSession(request.headers.cookie)) {
    if (!isSafeMethod(request.method) && !isSameOrigin(request.headers, ownOrigin(request) ?? '')) {
      throw new ApiError('PIDVISOR_ERR_CROSS_ORIGIN', 'a dashboard session may change things only from a page of this daemon (no Origin or Sec-Fetch-Site: same-origin)');
    }
    connection.authenticated();
    return 'session';
  }
  if (header === undefined && publicRoute) return 'none';
  const token = bearerToken(header);
  if (token === null || !timingSafeEqual(digest(token), connection.tokenDigest)) {
    throw new ApiError('PIDVISOR_ERR_UNAUTHORIZED', token === null ? 'an Authorization: Bearer token is required' : 'the bearer token is not valid', {}, {
      headers: { 'www-authenticate': 'Bearer realm="pidvisor"' },
    });
  }
  connection.authenticated();
  return 'token';
}

/** The origin of the daemon's TCP listener as the request names it; null on other transports. */
export function ownOrigin(request: FastifyRequest): string | null {
  const connection = connectionOf(request);
  if (connection === null || connection === 'inject' || connection.transport !== 'tcp') return null;
  const host = hostName(request.headers.host);
  return host === null ? null : `${request.protocol}://${host}`;
}

function isSafeMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

export const MIN_TOKEN_BYTES = 16;

/**
 * Reads the bearer token from a file only its owner can read (like an ssh key), and keeps
 * only its hash: comparing hashes of equal length in constant time leaks neither the token
 * nor its length.
 */
export function loadTokenDigest(file: string): Buffer {
  const stat = fs.statSync(file);
  if ((stat.mode & 0o077) !== 0) throw new Error(`token file ${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`);
  const token = fs.readFileSync(file, 'utf8').trim();
  if (Buffer.byteLength(token) < MIN_TOKEN_BYTES) throw new Error(`token in ${file} is shorter than ${MIN_TOKEN_BYTES} bytes`);
  return digest(token);
}

/** Host names that always mean this machine. */
export function loopbackHosts(port: number): string[] {
  const names = ['localhost', '127.0.0.1', '[::1]'];
  return [...names, ...names.map((name) => `${name}:${port}`)];
}

export function isLoopbackAddress(host: string): boolean {
  if (host === 'localhost') return true;
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  return bare === '::1';
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer +([\x21-\x7e]+) *$/i.exec(header ?? '');
  return match === null ? null : match[1]!;
}

/** The Host header, lower-cased, as given (with its port, if any). */
function hostName(header: string | undefined): string | null {
  if (header === undefined || header.length === 0 || header.length > 255) return null;
  return header.toLowerCase();
}

function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}...` : text;
}
