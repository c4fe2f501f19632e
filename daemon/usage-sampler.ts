// When the usage of running instances is sampled, so that it stays cheap with 1,000 services:
// - on request (the API's process list, one process, /metrics), for the services whose sample
//   is older than FRESH_MS: a scrape or a `pidvisor top` refresh costs one pass at most;
// - in the background every intervalMs (0: never), so a CPU % is measured over a recent
//   window even for the first request after a quiet time.
// A pass samples SLICE services, then lets the event loop serve what waits, then the next
// slice; concurrent requests share the pass in progress. Group and process modes need every
// process's parent and group: /proc is read once per pass for all of them, and not at all when
// every running service has a cgroup of its own. What one pass costs is measured in
// bench/usage/ (daemon CPU and request latency with 1,000 services, sampling on and off).
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { ProcTable } from './usage.js';

/** A sample younger than this is served as it is. */
export const FRESH_MS = 1000;
/** Services sampled between two turns of the event loop. */
const SLICE = 64;
export const DEFAULT_USAGE_INTERVAL_MS = 10_000;

export interface Sampled {
  /** Samples the current instance; forgets the last sample when none runs. */
  sampleUsage(table: ProcTable, now: { wall: number; monotonic: number }): void;
  /** Age of the current instance's sample in ms (Infinity before the first); null when no instance runs. */
  usageAgeMs(nowMonotonic: number): number | null;
}

export interface UsageSamplerOptions {
  services: () => Iterable<Sampled>;
  /** Background sampling period; 0 samples on request only. */
  intervalMs: number;
  logger: Logger;
}

export class UsageSampler {
  readonly #options: UsageSamplerOptions;
  #pass: Promise<void> | null = null;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: UsageSamplerOptions) {
    this.#options = options;
    if (options.intervalMs > 0) {
      this.#timer = setInterval(() => {
        // Samples a request took meanwhile count: the pass skips services sampled in the last half period.
        this.#refresh(options.intervalMs / 2).catch((error: unknown) => options.logger.warn({ err: error }, 'usage sampling failed'));
      }, options.intervalMs);
      this.#timer.unref();
    }
  }

  /** Brings every running instance's sample to at most FRESH_MS old. */
  refresh(): Promise<void> {
    return this.#refresh(FRESH_MS);
  }

  /** Brings one service's sample to at most FRESH_MS old, at once. */
  refreshOne(service: Sampled): void {
    const now = clock();
    if ((service.usageAgeMs(now.monotonic) ?? 0) > FRESH_MS) this.#sample(service, new ProcTable(), now);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #refresh(maxAgeMs: number): Promise<void> {
    // One pass at a time: a burst of requests waits for the pass in progress, and the next
    // pass samples only what that one did not make fresh.
    while (this.#pass !== null) await this.#pass;
    const pass = this.#runPass(maxAgeMs);
    this.#pass = pass;
    try {
      await pass;
    } finally {
      if (this.#pass === pass) this.#pass = null;
    }
  }

  async #runPass(maxAgeMs: number): Promise<void> {
    const start = performance.now();
    const due = [...this.#options.services()].filter((service) => (service.usageAgeMs(start) ?? 0) > maxAgeMs);
    const table = new ProcTable();
    for (let i = 0; i < due.length; i += SLICE) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      const now = clock();
      for (const service of due.slice(i, i + SLICE)) this.#sample(service, table, now);
    }
  }

  #sample(service: Sampled, table: ProcTable, now: { wall: number; monotonic: number }): void {
    try {
      service.sampleUsage(table, now);
    } catch (error) {
      // Every read is guarded where a process may vanish; this would be a bug, not a race.
      this.#options.logger.warn({ err: error }, 'usage sample failed');
    }
  }
}

function clock(): { wall: number; monotonic: number } {
  return { wall: Date.now(), monotonic: performance.now() };
}
