// The API's part of a hand-over to the next daemon (reexec, daemon/reexec.ts): stop accepting
// connections while the listening sockets stay open, answer what was accepted, then let go.
//
// The keeper holds a copy of every listening socket, so a connection made once this daemon
// stops accepting waits in the socket's backlog and is answered by the next daemon: a client
// never sees ECONNREFUSED or ENOENT. The servers are NOT closed: closing a unix socket server
// that libuv bound unlinks its path (uv__pipe_close), and every client after that would get
// ENOENT. Instead each listening fd leaves the event loop's epoll set (native stopWatchingFd).
//
// Connections already accepted are answered, then closed (no keep-alive from here on): a
// request on a connection the daemon then exits with would be reset. Event and log streams
// end (clients resume from the next daemon), long polls answer 503 HANDING_OVER (routes/wait.ts).
// Idle keep-alive connections are closed at once; a client that sends on one at that very
// moment sees the ordinary keep-alive race (a reset before any byte of an answer), which HTTP
// clients retry. A fresh connection whose request has not arrived yet is waited for.
import type http from 'node:http';
import type net from 'node:net';
import { handleFd } from '../../daemon/handle-fd.js';
import { stopWatchingFd } from '../../native/index.js';
import type { AppContext } from './context.js';

// Long enough for any request but a long poll (those are answered at once) to finish.
const DRAIN_MS = 10_000;
const DRAIN_POLL_MS = 10;

/** Follows the connections of the API's servers, so that a hand-over knows which are idle. */
export class ConnectionTracker {
  /** Connections that have had a request, with the number of requests not yet answered on each. */
  readonly #served = new Map<net.Socket, number>();
  readonly #servers: http.Server[] = [];
  #quiescing = false;

  track(server: http.Server): void {
    this.#servers.push(server);
    server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
      const socket = request.socket;
      if (!this.#served.has(socket)) socket.once('close', () => this.#served.delete(socket));
      this.#served.set(socket, (this.#served.get(socket) ?? 0) + 1);
      response.once('close', () => {
        const left = (this.#served.get(socket) ?? 1) - 1;
        if (this.#served.has(socket)) this.#served.set(socket, left);
        if (this.#quiescing && left === 0) socket.destroy();
      });
      if (this.#quiescing) response.shouldKeepAlive = false;
    });
  }

  /**
   * Stops accepting on every server (they stay open), ends streams and long polls, and
   * resolves once every accepted connection is closed (forced after DRAIN_MS). Irreversible:
   * for a process about to exit.
   */
  async quiesce(ctx: AppContext): Promise<{ forced: number }> {
    this.#quiescing = true;
    for (const server of this.#servers) {
      const fd = handleFd(server);
      if (fd !== null) stopWatchingFd(fd);
    }
    ctx.handOver.abort();
    ctx.streams.endAll();
    for (const [socket, inFlight] of this.#served) if (inFlight === 0) socket.destroy();
    const deadline = Date.now() + DRAIN_MS;
    while (Date.now() < deadline && (await this.#open()) > 0) await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    const forced = await this.#open();
    for (const server of this.#servers) server.closeAllConnections();
    return { forced };
  }

  async #open(): Promise<number> {
    const counts = await Promise.all(this.#servers.map((server) => new Promise<number>((resolve) => server.getConnections((error, count) => resolve(error === null ? count : 0)))));
    return counts.reduce((sum, count) => sum + count, 0);
  }
}
