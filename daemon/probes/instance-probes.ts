// The probes of one instance of a service: readiness while it is `starting`, liveness once
// it is ready (`running`), and its health. Policy stays in Service: this reports, through
// the host, "ready", "never became ready" and "unhealthy", and Service acts on them.
import type { ServiceDefinition } from '../definition.js';
import type { ServiceLogs } from '../logs/service-logs.js';
import type { Checker, CheckResult } from './check.js';
import { ExecChecker } from './exec-check.js';
import { HttpChecker } from './http-check.js';
import { LogLineChecker } from './log-line-check.js';
import { describeProbe, type ProbeDefinition } from './probe-spec.js';
import { Prober, type ProbeStatus } from './prober.js';
import { TcpChecker } from './tcp-check.js';

export type Health = 'unknown' | 'healthy' | 'unhealthy';

export interface ProbesHost {
  /** The readiness probe passed: the instance is ready. */
  ready(reason: string): void;
  /** The readiness probe reached its failureThreshold: the start failed. */
  notReady(reason: string): void;
  /** Health changed (not reported for the return to `unknown` of a new instance). */
  health(health: 'healthy' | 'unhealthy', reason: string): void;
  /** The liveness probe reached its failureThreshold: the instance must be restarted. */
  unhealthy(reason: string): void;
}

export interface ProbeResources {
  definition: ServiceDefinition;
  logs: ServiceLogs | null;
  /** Where exec checks make their own cgroups; null: a process group each. */
  cgroupParent: string | null;
  label: string;
}

export class InstanceProbes {
  readonly #host: ProbesHost;
  readonly #resources: ProbeResources;
  #readiness: Prober | null = null;
  #liveness: Prober | null = null;
  #health: Health = 'unknown';
  #closed = false;
  readonly #stopping: Array<Promise<void>> = [];

  constructor(resources: ProbeResources, host: ProbesHost) {
    this.#resources = resources;
    this.#host = host;
  }

  get health(): Health {
    return this.#health;
  }

  /** What the API shows of each probe of this instance (null: none, or not started yet). */
  status(): { readiness: ProbeStatus | null; liveness: ProbeStatus | null } {
    return { readiness: this.#readiness?.status ?? null, liveness: this.#liveness?.status ?? null };
  }

  /** Starts the readiness probe (not for `notify`: READY=1 comes through the notify socket). */
  startReadiness(probe: ProbeDefinition, elapsedMs = 0): void {
    if (this.#closed || probe.check.kind === 'notify') return;
    const prober: Prober = new Prober(probe, this.#checker(probe, () => prober.runNow()), {
      onSuccess: (result) => {
        this.#retire(prober);
        this.#host.ready(`ready: ${describeProbe(probe)} passed (${result.detail})`);
      },
      onFailure: (result, consecutive) => {
        this.#retire(prober);
        this.#host.notReady(`never became ready: ${describeProbe(probe)} failed ${consecutive} times in a row (last: ${result.detail})`);
      },
    });
    this.#readiness = prober;
    prober.start(probe.initialDelayMs - elapsedMs);
  }

  /** Starts the liveness probe: the instance is ready. */
  startLiveness(probe: ProbeDefinition, elapsedMs = 0): void {
    if (this.#closed || this.#liveness !== null) return;
    const prober: Prober = new Prober(probe, this.#checker(probe, () => prober.runNow()), {
      onSuccess: (result) => this.#setHealth('healthy', `${describeProbe(probe)} passed (${result.detail})`),
      onFailure: (result, consecutive) => {
        const reason = `${describeProbe(probe)} failed ${consecutive} times in a row (last: ${result.detail})`;
        this.#setHealth('unhealthy', reason);
        this.#retire(prober);
        this.#host.unhealthy(reason);
      },
    });
    this.#liveness = prober;
    prober.start(probe.initialDelayMs - elapsedMs);
  }

  /** Stops every probe; resolves once checks still running have ended (their trees killed). */
  close(): Promise<void> {
    this.#closed = true;
    for (const prober of [this.#readiness, this.#liveness]) if (prober !== null) this.#retire(prober);
    return Promise.all(this.#stopping).then(() => undefined);
  }

  #retire(prober: Prober): void {
    this.#stopping.push(prober.stop());
  }

  #setHealth(health: 'healthy' | 'unhealthy', reason: string): void {
    if (this.#health === health) return;
    this.#health = health;
    this.#host.health(health, reason);
  }

  #checker(probe: ProbeDefinition, runNow: () => void): Checker {
    const check = probe.check;
    const { definition, logs, cgroupParent, label } = this.#resources;
    switch (check.kind) {
      case 'tcp':
        return new TcpChecker(check.host, check.port);
      case 'http':
        return new HttpChecker(check.url, check.status, check.bodyPattern);
      case 'exec':
        return new ExecChecker(check.command, definition, cgroupParent, label);
      case 'logLine':
        // defineProbe refuses a logLine probe on a service that captures nothing.
        return new LogLineChecker(logs!, check.pattern, check.stream, probe.role, runNow);
      case 'notify':
        return { run: async (): Promise<CheckResult> => ({ ok: false, detail: 'notify is not polled' }), close() {} };
    }
  }
}
