// Limits that keep one caller from starving the daemon: a token bucket per peer for the
// request rate, and a semaphore for launches in flight (each spawn blocks the event loop
// for its clone, and a cgroup launch does file system work first).
import { performance } from 'node:perf_hooks';

export interface RateLimitOptions {
  /** Requests a peer may make at once after being idle. */
  burst: number;
  /** Sustained requests per second per peer. */
  perSecond: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

export class RateLimiter {
  readonly #options: RateLimitOptions;
  readonly #maxPeers: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimitOptions, maxPeers = 10_000) {
    if (!(options.burst >= 1) || !(options.perSecond > 0)) throw new RangeError('rate limit needs burst >= 1 and perSecond > 0');
    this.#options = options;
    this.#maxPeers = maxPeers;
  }

  /** Takes one token from `peer`'s bucket, or says how long until one is there. */
  take(peer: string, now = performance.now()): RateDecision {
    const { burst, perSecond } = this.#options;
    let bucket = this.#buckets.get(peer);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxPeers) this.#prune(now);
      bucket = { tokens: burst, at: now };
      this.#buckets.set(peer, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond)) };
  }

  // A full bucket holds no memory of anything: forget those first, then the oldest.
  #prune(now: number): void {
    const { burst, perSecond } = this.#options;
    for (const [peer, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * perSecond >= burst) this.#buckets.delete(peer);
    }
    for (const peer of this.#buckets.keys()) {
      if (this.#buckets.size < this.#maxPeers) break;
      this.#buckets.delete(peer);
    }
  }
}

/** A counting semaphore that never queues: a caller either gets a slot now or is refused. */
export class Semaphore {
  readonly #max: number;
  #used = 0;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('a semaphore needs at least one slot');
    this.#max = max;
  }

  get inUse(): number {
    return this.#used;
  }

  /** A release function (idempotent), or null when every slot is taken. */
  tryAcquire(): (() => void) | null {
    if (this.#used >= this.#max) return null;
    this.#used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#used--;
    };
  }
}
