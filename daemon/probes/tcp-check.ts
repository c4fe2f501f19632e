// tcp: the check passes once a connection is accepted; it is closed at once (RST-free: end).
import net from 'node:net';
import { describeError, type Checker, type CheckResult } from './check.js';

export class TcpChecker implements Checker {
  readonly #host: string;
  readonly #port: number;

  constructor(host: string, port: number) {
    this.#host = host;
    this.#port = port;
  }

  run(timeoutMs: number): Promise<CheckResult> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: this.#host, port: this.#port });
      const finish = (result: CheckResult): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve(result);
      };
      // A timer rather than socket.setTimeout: that one measures idleness, and the SYN of a
      // connection to a filtered port is not activity Node sees either way.
      const timer = setTimeout(() => finish({ ok: false, detail: `no connection within ${timeoutMs} ms` }), timeoutMs);
      socket.once('connect', () => finish({ ok: true, detail: `connected to ${this.#host}:${this.#port}` }));
      socket.once('error', (error) => finish({ ok: false, detail: describeError(error) }));
    });
  }

  close(): void {}
}
