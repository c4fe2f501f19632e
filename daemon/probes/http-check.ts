// http: a GET answered with an expected status (200-399 unless told), and a body matching a
// pattern when one is given. No keep-alive: each check opens its own connection, so a server
// that stops accepting (or answering) fails the next check instead of hiding behind a
// connection pooled from better days.
import type http from 'node:http';
import { createRequire } from 'node:module';
import { describeError, type Checker, type CheckResult } from './check.js';

// node:http and node:https are loaded at the first check, not with the supervisor: a daemon or
// init without http probes (and without the API) never needs them, and they cost its start-up.
const require = createRequire(import.meta.url);

/** Only the start of a body is matched: a probe must not buffer a large page every period. */
export const BODY_MATCH_BYTES = 64 * 1024;

export class HttpChecker implements Checker {
  readonly #url: URL;
  readonly #status: readonly number[] | null;
  readonly #bodyPattern: RegExp | null;

  constructor(url: URL, status: readonly number[] | null, bodyPattern: RegExp | null) {
    this.#url = url;
    this.#status = status;
    this.#bodyPattern = bodyPattern;
  }

  run(timeoutMs: number): Promise<CheckResult> {
    return new Promise((resolve) => {
      const get = (require(this.#url.protocol === 'https:' ? 'node:https' : 'node:http') as typeof http).get;
      let settled = false;
      const finish = (result: CheckResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.destroy();
        resolve(result);
      };
      const request = get(this.#url, { agent: false, headers: { 'user-agent': 'pidvisor-probe', connection: 'close' } }, (response) => {
        const status = response.statusCode ?? 0;
        const expected = this.#status === null ? status >= 200 && status < 400 : this.#status.includes(status);
        if (!expected) {
          finish({ ok: false, detail: `status ${status}` });
          return;
        }
        if (this.#bodyPattern === null) {
          finish({ ok: true, detail: `status ${status}` });
          return;
        }
        const chunks: Buffer[] = [];
        let length = 0;
        const match = (): void => {
          const body = Buffer.concat(chunks).subarray(0, BODY_MATCH_BYTES).toString('utf8');
          const ok = this.#bodyPattern!.test(body);
          finish({ ok, detail: ok ? `status ${status}, body matched` : `status ${status}, body did not match /${this.#bodyPattern!.source}/` });
        };
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          length += chunk.length;
          if (length >= BODY_MATCH_BYTES) match();
        });
        response.once('end', match);
        response.once('error', (error) => finish({ ok: false, detail: describeError(error) }));
      });
      const timer = setTimeout(() => finish({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
      request.once('error', (error) => finish({ ok: false, detail: describeError(error) }));
    });
  }

  close(): void {}
}
