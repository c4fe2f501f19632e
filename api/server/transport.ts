// Puts an app on the wire: a unix socket always, TCP when asked.
//
// Unix socket: its directory is created 0700 (an existing one must be ours and writable
// by nobody else), the socket is chmod 0600, and each connection's peer is read with
// SO_PEERCRED as it is accepted: a uid not in `allowedUids` is disconnected before a byte
// of its request is read. A socket file left by a dead daemon is replaced; one a live
// daemon answers on is an error naming that daemon's pid.
//
// TCP: loopback unless told otherwise; every request needs the bearer token (checked in
// the app, see auth.ts); a non-loopback address needs TLS, or `allowInsecure` to send the
// token in clear text over the network. Connections no request has authenticated yet are
// bounded per peer address (limits.ts) and by the header timeout, so a peer without the
// token cannot hold the listener's connections.
//
// Under pidvisor-keeper (daemon/keeper-link.ts), each listening socket is deposited with the
// keeper once it listens, and a daemon the keeper started after another died listens on the
// keeper's copy instead of binding: the socket never stops existing, so a client connecting
// while no daemon runs waits in its backlog (it never gets ECONNREFUSED or ENOENT) and is
// answered by the next daemon. Connections the dead daemon had accepted are reset with it.
//
// Connections per listener are bounded (Node closes those over the limit as they arrive);
// event and log streams may take only part of them (stream.ts), so short requests such as
// `pidvisor ps` always find room.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { peerCredentials } from '../../native/index.js';
import { handleFd } from '../../daemon/handle-fd.js';
import type { ListenerAddress, ListenerKeeper } from '../../daemon/keeper-link.js';
import { defaultSocketPath } from '../../daemon/paths.js';
import { checkIntervalMs, type PidvisorApp } from './app.js';
import { isLoopbackAddress, loadTokenDigest, loopbackHosts, tagConnection, type ConnectionInfo } from './auth.js';
import { DEFAULT_MAX_CONNECTIONS } from './context.js';
import { writeClientError } from './errors.js';
import { UnauthenticatedConnections } from './limits.js';
import { ConnectionTracker } from './quiesce.js';

export interface ListenOptions {
  /** Default: $PIDVISOR_SOCKET, /run/pidvisor/pidvisor.sock for root, else under $XDG_RUNTIME_DIR. */
  socketPath?: string;
  /** Mode of the socket file; default 0600. */
  socketMode?: number;
  /** Uids allowed on the socket; default: the daemon's own and root. */
  allowedUids?: number[];
  tcp?: TcpOptions;
  /** Connections at once, per listener; default 512. */
  maxConnections?: number;
  /** TCP connections per peer address that no request has authenticated yet (the oldest is closed); default 32. */
  maxUnauthenticatedPerPeer?: number;
  /** Where the listening sockets are kept across a restart of the daemon (the keeper), if anywhere. */
  keeper?: ListenerKeeper | null;
}


export interface TcpOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port (see the handle). */
  port: number;
  /** File holding the bearer token (at least 16 bytes), readable by its owner only. */
  tokenFile: string;
  tls?: { certFile: string; keyFile: string };
  /** Listen on a non-loopback address without TLS, sending the token in clear text. */
  allowInsecure?: boolean;
  /**
   * Host names (or name:port) accepted in the Host header besides loopback names and the
   * bound address: the names clients use to reach a non-loopback listener. A name without a
   * port is accepted with and without this listener's port.
   */
  allowedHosts?: string[];
}

export interface ListenHandle {
  socketPath: string;
  tcp: { host: string; port: number } | null;
  /** Stops both listeners and closes the app (open streams end, long polls answer 503). */
  close(): Promise<void>;
  /**
   * For a hand-over to the next daemon (reexec): stops accepting while the listening sockets
   * stay open (the keeper holds them), and resolves once the connections accepted are answered
   * and closed (quiesce.ts). Then the process must exit without close().
   */
  quiesce(): Promise<{ forced: number }>;
}

const PROBE_TIMEOUT_MS = 1000;
const CLOSE_GRACE_MS = 2000;

export async function listen(app: PidvisorApp, options: ListenOptions = {}): Promise<ListenHandle> {
  const socketPath = path.resolve(options.socketPath ?? defaultSocketPath());
  const tcpPlan = options.tcp === undefined ? null : planTcp(options.tcp); // refuse before touching anything
  await app.ready();
  prepareSocketDir(path.dirname(socketPath));
  const keeper = options.keeper ?? null;
  const unixAddress: ListenerAddress = { transport: 'unix', path: socketPath };
  // The keeper's copy only while the file still names a socket: one removed by hand is bound anew.
  const keptUnix = keeper === null ? null : takeIfSocketFile(keeper, unixAddress);
  if (keptUnix === null) await clearStaleSocket(socketPath);
  acceptOnlyUids(app, app.server, new Set(options.allowedUids ?? [process.geteuid?.() ?? 0, 0]));
  app.server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  // A kept socket is listened on by Node directly: fastify's listen reads server.address(),
  // which Node knows only for a path it bound itself (null here). Fastify's close still
  // closes the server (it always does without a serverFactory).
  if (keptUnix === null) await app.listen({ path: socketPath });
  else await listenOnFd(app.server, keptUnix);
  fs.chmodSync(socketPath, options.socketMode ?? 0o600);

  let tcp: { server: http.Server; host: string; port: number } | null = null;
  try {
    if (tcpPlan !== null) tcp = await listenTcp(app, tcpPlan, options.maxConnections ?? DEFAULT_MAX_CONNECTIONS, options.maxUnauthenticatedPerPeer ?? 32, keeper);
  } catch (error) {
    await app.close();
    throw error;
  }
  const connections = new ConnectionTracker();
  connections.track(app.server);
  if (tcp !== null) connections.track(tcp.server);
  if (keeper !== null) {
    depositServer(keeper, unixAddress, app.server);
    if (tcp !== null && tcpPlan !== null) depositServer(keeper, { transport: 'tcp', host: tcpPlan.host, port: tcpPlan.port }, tcp.server);
  }
  app.log.info({ socketPath, tcp: tcp === null ? null : { host: tcp.host, port: tcp.port }, inherited: keptUnix !== null }, 'api listening');
  let closing: Promise<void> | null = null;
  return {
    socketPath,
    tcp: tcp === null ? null : { host: tcp.host, port: tcp.port },
    close() {
      closing ??= closeAll(app, tcp?.server ?? null);
      return closing;
    },
    quiesce: () => connections.quiesce(app.pidvisor),
  };
}

interface TcpPlan {
  host: string;
  port: number;
  tokenDigest: Buffer;
  tls: { cert: Buffer; key: Buffer } | null;
  allowedHosts: string[];
}

function planTcp(options: TcpOptions): TcpPlan {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackAddress(host) && options.tls === undefined && options.allowInsecure !== true) {
    throw new Error(
      `refusing to listen on ${host} without TLS: the bearer token would cross the network in clear text (give tls, or allowInsecure to force it)`,
    );
  }
  return {
    host,
    port: options.port,
    tokenDigest: loadTokenDigest(options.tokenFile),
    tls: options.tls === undefined ? null : { cert: fs.readFileSync(options.tls.certFile), key: fs.readFileSync(options.tls.keyFile) },
    allowedHosts: options.allowedHosts ?? [],
  };
}

/** Creates the directory 0700, or checks that an existing one cannot be tampered with by others. */
export function prepareSocketDir(dir: string): void {
  const created = fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (created !== undefined) fs.chmodSync(dir, 0o700); // whatever the umask did
  const stat = fs.lstatSync(dir);
  const uid = process.geteuid?.() ?? 0;
  if (!stat.isDirectory()) throw new Error(`socket directory ${dir} is not a directory`);
  if (stat.uid !== uid && stat.uid !== 0) throw new Error(`socket directory ${dir} belongs to uid ${stat.uid}, not to this daemon (uid ${uid})`);
  if ((stat.mode & 0o022) !== 0) {
    throw new Error(`socket directory ${dir} is writable by others (mode ${(stat.mode & 0o777).toString(8)}): anyone could replace the socket`);
  }
}

/** Removes a socket nobody answers on; refuses when a daemon answers, or the path is not a socket. */
export async function clearStaleSocket(socketPath: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!stat.isSocket()) throw new Error(`${socketPath} exists and is not a socket; not replacing it`);
  const probe = await probeSocket(socketPath);
  if (probe.live) {
    throw new Error(`another daemon is listening on ${socketPath}${probe.pid === null ? '' : ` (pid ${probe.pid})`}; stop it first or use another socket path`);
  }
  fs.unlinkSync(socketPath);
}

function probeSocket(socketPath: string): Promise<{ live: boolean; pid: number | null }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    socket.setTimeout(PROBE_TIMEOUT_MS);
    socket.once('connect', () => {
      let pid: number | null = null;
      try {
        pid = peerCredentials(socket).pid; // the listener's pid, as of its listen()
      } catch {
        // still live; only the pid is unknown
      }
      socket.destroy();
      resolve({ live: true, pid });
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve({ live: true, pid: null }); // accepted nothing, but someone holds it
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolve({ live: false, pid: null });
      else reject(new Error(`cannot check socket ${socketPath}: ${error.message}`, { cause: error }));
    });
  });
}

/** Reads SO_PEERCRED as each connection is accepted, before the HTTP parser reads a byte. */
function acceptOnlyUids(app: PidvisorApp, server: net.Server, allowed: ReadonlySet<number>): void {
  server.prependListener('connection', (socket: net.Socket) => {
    let credentials;
    try {
      credentials = peerCredentials(socket);
    } catch (error) {
      app.pidvisor.metrics.countRejectedConnection('no-credentials');
      app.log.warn({ err: error }, 'api connection refused: cannot read peer credentials');
      socket.destroy();
      return;
    }
    credentials.process?.close();
    if (!allowed.has(credentials.uid)) {
      app.pidvisor.metrics.countRejectedConnection('uid');
      app.log.warn({ uid: credentials.uid, pid: credentials.pid }, 'api connection refused: uid not allowed');
      socket.destroy();
      return;
    }
    tagConnection(socket, { transport: 'unix', uid: credentials.uid, gid: credentials.gid, pid: credentials.pid });
  });
}

/** The keeper's socket for `address` when its file is still there; else null (and the kept one is closed). */
function takeIfSocketFile(keeper: ListenerKeeper, address: ListenerAddress & { transport: 'unix' }): number | null {
  const fd = keeper.takeListener(address);
  if (fd === null) return null;
  try {
    if (fs.lstatSync(address.path).isSocket()) return fd;
  } catch {
    // removed: bound anew below
  }
  fs.closeSync(fd);
  return null;
}

function listenOnFd(server: net.Server, fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function depositServer(keeper: ListenerKeeper, address: ListenerAddress, server: net.Server): void {
  const fd = handleFd(server);
  if (fd !== null) keeper.depositListener(address, fd);
}

async function listenTcp(
  app: PidvisorApp,
  plan: TcpPlan,
  maxConnections: number,
  maxUnauthenticatedPerPeer: number,
  keeper: ListenerKeeper | null,
): Promise<{ server: http.Server; host: string; port: number }> {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => app.routing(req, res);
  const { timeouts } = app.pidvisor;
  const serverOptions: http.ServerOptions = {
    headersTimeout: timeouts.headersMs,
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    connectionsCheckingInterval: checkIntervalMs(timeouts.headersMs),
  };
  const server: http.Server =
    plan.tls === null ? http.createServer(serverOptions, handler) : https.createServer({ ...serverOptions, cert: plan.tls.cert, key: plan.tls.key }, handler);
  server.maxConnections = maxConnections;
  server.on('clientError', writeClientError);
  const allowedHosts = new Set<string>();
  const unauthenticated = new UnauthenticatedConnections(maxUnauthenticatedPerPeer);
  // Under TLS, requests arrive on the TLS socket made after the handshake: its connection
  // info is found by the TCP endpoint, which is unique while the connection is open.
  const handshaking = new Map<string, ConnectionInfo>();
  // Before the HTTP (or TLS) layer sees the socket, so that the count includes the handshake.
  server.prependListener('connection', (socket: net.Socket) => {
    const remoteAddress = socket.remoteAddress ?? 'unknown';
    const { release, evicted } = unauthenticated.admit(remoteAddress, () => socket.destroy());
    if (evicted) app.pidvisor.metrics.countRejectedConnection('unauthenticated-per-peer');
    socket.once('close', release);
    const info: ConnectionInfo = { transport: 'tcp', remoteAddress, tokenDigest: plan.tokenDigest, allowedHosts, authenticated: release };
    if (plan.tls === null) {
      tagConnection(socket, info);
      return;
    }
    const endpoint = `${remoteAddress}:${socket.remotePort}`;
    handshaking.set(endpoint, info);
    socket.once('close', () => handshaking.delete(endpoint));
  });
  if (plan.tls !== null) {
    server.on('secureConnection', (socket: net.Socket) => {
      const info = handshaking.get(`${socket.remoteAddress}:${socket.remotePort}`);
      if (info !== undefined) tagConnection(socket, info); // untagged: refused as FORBIDDEN
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    const kept = keeper?.takeListener({ transport: 'tcp', host: plan.host, port: plan.port }) ?? null;
    if (kept === null) server.listen(plan.port, plan.host, done);
    else server.listen({ fd: kept }, done); // Node takes a listening socket as { fd }
  });
  const port = (server.address() as net.AddressInfo).port;
  const bound = plan.host.includes(':') ? `[${plan.host}]` : plan.host;
  const extra = plan.allowedHosts.flatMap((host) => (/:\d+$/.test(host) ? [host] : [host, `${host}:${port}`]));
  for (const host of [...loopbackHosts(port), bound, `${bound}:${port}`, ...extra]) allowedHosts.add(host.toLowerCase());
  return { server, host: plan.host, port };
}

async function closeAll(app: PidvisorApp, tcp: http.Server | null): Promise<void> {
  const tcpClosed = tcp === null ? Promise.resolve() : new Promise<void>((resolve) => tcp.close(() => resolve()));
  // Streams were ended by the app's preClose; connections still busy get a grace period.
  const force = setTimeout(() => {
    tcp?.closeAllConnections();
    app.server.closeAllConnections();
  }, CLOSE_GRACE_MS);
  try {
    // Idle keep-alive connections would hold the close up (fastify closes them only on a server it listened on itself).
    app.server.closeIdleConnections();
    await app.close();
    tcp?.closeIdleConnections();
    await tcpClosed;
  } finally {
    clearTimeout(force);
  }
}
