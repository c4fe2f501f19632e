// The audit trail: one JSON line per request that changes something (every method but GET),
// with who asked (uid and pid from SO_PEERCRED, or the TCP address), what, and the answer.
// Written to a pino logger: by default a child of the daemon's logger; with `file`, a file
// of its own (mode 0600) that outlives the daemon's log rotation.
import fs from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { AuthMethod, Peer } from './auth.js';

/** false: no audit; a logger: a child of it; { file }: a file of its own. */
export type AuditOptions = false | Logger | { file: string };

export interface AuditEntry {
  reqId: string;
  method: string;
  url: string;
  route: string | null;
  status: number;
  /** The problem code of a refused request. */
  code: string | null;
  peer: Peer;
  /** How the caller was let in (a dashboard session, the token, the socket); null if refused first. */
  auth: AuthMethod | null;
  durationMs: number;
  /** The process the request was about, when known. */
  target: string | null;
  detail: Record<string, unknown> | null;
  aborted: boolean;
}

export class AuditLog {
  readonly #logger: Logger | null;
  readonly #destination: ReturnType<typeof pino.destination> | null = null;

  constructor(options: AuditOptions) {
    if (options === false) {
      this.#logger = null;
    } else if ('file' in options) {
      fs.mkdirSync(path.dirname(options.file), { recursive: true, mode: 0o700 });
      // Created 0600 before pino opens it: the trail names users and commands.
      fs.closeSync(fs.openSync(options.file, 'a', 0o600));
      this.#destination = pino.destination({ dest: options.file, sync: true });
      this.#logger = pino({ base: { audit: true } }, this.#destination);
    } else {
      this.#logger = options.child({ audit: true });
    }
  }

  static isAudited(method: string): boolean {
    return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
  }

  write(entry: AuditEntry): void {
    this.#logger?.info(entry, 'api request');
  }

  close(): void {
    this.#destination?.end();
  }
}
