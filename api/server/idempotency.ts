// Idempotency-Key for launches (after draft-ietf-httpapi-idempotency-key-header): the first
// request with a key runs; a retry with the same key and the same body gets the first
// response again (or waits for it while the first still runs) and nothing is launched twice.
// The same key with a different body is refused. Keys are scoped per caller, kept for a TTL,
// and at most `maxEntries` are kept, oldest dropped first.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ApiError } from './errors.js';

export interface IdempotencyOptions {
  ttlMs: number;
  maxEntries: number;
}

/** A response as first sent, to be sent again on a retry. */
export interface StoredResponse {
  status: number;
  contentType: string;
  body: unknown;
}

interface Entry {
  fingerprint: string;
  createdAt: number;
  response: Promise<StoredResponse>;
  settled: boolean;
}

export class IdempotencyCache {
  readonly #options: IdempotencyOptions;
  readonly #entries = new Map<string, Entry>();

  constructor(options: IdempotencyOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The response for `key` from `scope` (a caller): the stored one when the key was seen,
   * else the one `execute` gives. When `execute` throws, nothing is stored (the failure was
   * not an outcome of the request, a retry may succeed) and the error goes to every waiter.
   */
  async run(scope: string, key: string, body: unknown, execute: () => Promise<StoredResponse>): Promise<{ response: StoredResponse; replayed: boolean }> {
    const now = performance.now();
    this.#expire(now);
    const id = `${scope}\u0000${key}`;
    const fingerprint = fingerprintOf(body);
    const existing = this.#entries.get(id);
    if (existing !== undefined) {
      if (existing.fingerprint !== fingerprint) {
        throw new ApiError('PIDVISOR_ERR_IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different body; use a new key for a new launch', {
          idempotencyKey: key,
        });
      }
      return { response: await existing.response, replayed: true };
    }
    const entry: Entry = { fingerprint, createdAt: now, response: execute(), settled: false };
    this.#entries.set(id, entry);
    this.#bound();
    try {
      const response = await entry.response;
      entry.settled = true;
      return { response, replayed: false };
    } catch (error) {
      if (this.#entries.get(id) === entry) this.#entries.delete(id);
      throw error;
    }
  }

  // Entries are in creation order, so the expired ones are at the front.
  #expire(now: number): void {
    for (const [id, entry] of this.#entries) {
      if (now - entry.createdAt < this.#options.ttlMs) break;
      this.#entries.delete(id);
    }
  }

  #bound(): void {
    if (this.#entries.size <= this.#options.maxEntries) return;
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size <= this.#options.maxEntries) break;
      if (entry.settled) this.#entries.delete(id);
    }
  }
}

/** A hash of the body that ignores key order: `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same launch. */
export function fingerprintOf(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
