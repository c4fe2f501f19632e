// Limits that keep one caller from starving the daemon: a token bucket per peer for the
// request rate, a semaphore for launches in flight (each spawn blocks the event loop for
// its clone, and a cgroup launch does file system work first), and a count per peer of
// the TCP connections that have not authenticated yet.
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

/**
 * TCP connections per peer (address) that no request has authenticated yet: headers still
 * coming, no token, a wrong one. A peer may hold `maxPerPeer` of them; its next one closes
 * the oldest. So a peer that opens connections and never finishes a request keeps cycling
 * through its own share instead of taking the listener's connections, while a client that
 * sends its request at once (and its token) is through in well under the time it takes
 * anyone to open `maxPerPeer` connections. Every local client has the address 127.0.0.1:
 * refusing the newest instead would lock the token holder out with the rest. The header
 * timeout bounds how long each is held.
 */
export class UnauthenticatedConnections {
  readonly #maxPerPeer: number;
  /** Per peer, its waiting connections' close functions, oldest first (a Set keeps insertion order). */
  readonly #byPeer = new Map<string, Set<() => void>>();

  constructor(maxPerPeer: number) {
    if (!Number.isInteger(maxPerPeer) || maxPerPeer < 1) throw new RangeError('maxPerPeer must be at least 1');
    this.#maxPerPeer = maxPerPeer;
  }

  /**
   * Counts a new connection of `peer`, closing (with `close` given for it) the peer's oldest
   * when it has its share. Returns the release function (idempotent): on authentication, or close.
   */
  admit(peer: string, close: () => void): { release: () => void; evicted: boolean } {
    let waiting = this.#byPeer.get(peer);
    if (waiting === undefined) {
      waiting = new Set();
      this.#byPeer.set(peer, waiting);
    }
    let evicted = false;
    if (waiting.size >= this.#maxPerPeer) {
      const oldest = waiting.values().next().value!;
      waiting.delete(oldest);
      oldest();
      evicted = true;
    }
    waiting.add(close);
    const release = (): void => {
      if (!waiting.delete(close)) return;
      if (waiting.size === 0 && this.#byPeer.get(peer) === waiting) this.#byPeer.delete(peer);
    };
    return { release, evicted };
  }
}
