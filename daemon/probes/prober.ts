// Runs one probe of one instance: the first check after initialDelayMs, then one every
// periodMs (measured from the start of the previous check; a check still running when the
// next is due delays it, so checks of one probe never overlap), and reports when the
// consecutive successes or failures reach their thresholds. Results are counted for the API
// and /metrics.
import { performance } from 'node:perf_hooks';
import type { Checker, CheckResult } from './check.js';
import { describeProbe, type ProbeDefinition } from './probe-spec.js';

export interface ProbeStatus {
  kind: ProbeDefinition['check']['kind'];
  /** `liveness http GET http://127.0.0.1:8080/`. */
  probe: string;
  successes: number;
  failures: number;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  lastResult: 'success' | 'failure' | null;
  lastDetail: string | null;
  lastDurationMs: number | null;
  lastAt: string | null;
  /** Sum of every check's duration: /metrics' probe duration summary. */
  totalDurationMs: number;
}

export interface ProberEvents {
  /** successThreshold consecutive successes (after a failure or at first). */
  onSuccess(result: CheckResult): void;
  /** failureThreshold consecutive failures; once per run of failures. */
  onFailure(result: CheckResult, consecutive: number): void;
}

export class Prober {
  readonly #probe: ProbeDefinition;
  readonly #checker: Checker;
  readonly #events: ProberEvents;
  readonly #status: ProbeStatus;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  /** A check was asked for (runNow) while one ran: run again as soon as it ends. */
  #again = false;
  #nextAt = 0;
  #stopped = false;
  /** The state the thresholds last reported, so each is reported once per run. */
  #reported: 'success' | 'failure' | null = null;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(probe: ProbeDefinition, checker: Checker, events: ProberEvents) {
    this.#probe = probe;
    this.#checker = checker;
    this.#events = events;
    this.#status = {
      kind: probe.check.kind,
      probe: describeProbe(probe),
      successes: 0,
      failures: 0,
      consecutiveSuccesses: 0,
      consecutiveFailures: 0,
      lastResult: null,
      lastDetail: null,
      lastDurationMs: null,
      lastAt: null,
      totalDurationMs: 0,
    };
  }

  get status(): Readonly<ProbeStatus> {
    return this.#status;
  }

  /** Starts checking; `delayMs`: the initial delay still to wait (less after a take-over). */
  start(delayMs = this.#probe.initialDelayMs): void {
    this.#schedule(Math.max(0, delayMs));
  }

  /** Checks now rather than at the next period (a logLine probe that just saw its line). */
  runNow(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#schedule(0);
  }

  /** Stops for good; resolves once a check still running has ended (an exec check's tree is killed). */
  stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#checker.close();
    return this.#inFlight;
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#check(), delayMs);
  }

  #check(): void {
    if (this.#stopped) return;
    this.#running = true;
    const started = performance.now();
    this.#nextAt = started + this.#probe.periodMs;
    this.#inFlight = this.#checker
      .run(this.#probe.timeoutMs)
      .catch((error: unknown): CheckResult => ({ ok: false, detail: `the check failed: ${(error as Error)?.message ?? String(error)}` }))
      .then((result) => {
        this.#running = false;
        if (this.#stopped) return;
        this.#record(result, performance.now() - started);
        if (this.#stopped) return; // a threshold's handler stopped it
        const again = this.#again;
        this.#again = false;
        this.#schedule(again ? 0 : Math.max(0, this.#nextAt - performance.now()));
      });
  }

  #record(result: CheckResult, durationMs: number): void {
    const status = this.#status;
    status.lastResult = result.ok ? 'success' : 'failure';
    status.lastDetail = result.detail;
    status.lastDurationMs = Math.round(durationMs * 1000) / 1000;
    status.totalDurationMs += durationMs;
    status.lastAt = new Date().toISOString();
    if (result.ok) {
      status.successes++;
      status.consecutiveSuccesses++;
      status.consecutiveFailures = 0;
      if (status.consecutiveSuccesses >= this.#probe.successThreshold && this.#reported !== 'success') {
        this.#reported = 'success';
        this.#events.onSuccess(result);
      }
      return;
    }
    status.failures++;
    status.consecutiveFailures++;
    status.consecutiveSuccesses = 0;
    const threshold = this.#probe.failureThreshold;
    if (threshold !== null && status.consecutiveFailures >= threshold && this.#reported !== 'failure') {
      this.#reported = 'failure';
      this.#events.onFailure(result, status.consecutiveFailures);
    }
  }
}
