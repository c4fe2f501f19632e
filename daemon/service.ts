// One supervised service at run time: its definition, its current instance, its recent
// exits, and the actions of the state machine (state-machine.ts) that move it along.
import type { Logger } from 'pino';
import { closeReceivedFds as closeFds, holdReceivedPidfd, inheritedEnv, NotifySocket, openProcess, ProcessExitedError, signalName as signalNameOf, spawn, type ChildProcess, type ProcessExit, type PipeReader, type PreparedEnvironment, type ProcessRef, type SpawnOptions } from '../native/index.js';
import fs from 'node:fs';
import path from 'node:path';
import { ServiceCgroup } from './cgroup.js';
import type { DependencyState, Gate } from './dependencies.js';
import type { ServiceDefinition } from './definition.js';
import { SupervisorError } from './errors.js';
import type { EventLog } from './events.js';
import { daemonPeakRssKiB, instanceUsage, type InstanceUsage } from './memory-peak.js';
import type { LogStatus, ServiceLogs } from './logs/service-logs.js';
import { InstanceMembership } from './notify/membership.js';
import { InstanceNotify, type NotifyStatus } from './notify/instance-notify.js';
import { NotifyEndpoint, type NotifyCounters } from './notify/notify-endpoint.js';
import { InstanceProbes, type Health } from './probes/instance-probes.js';
import type { ProbeStatus } from './probes/prober.js';
import { ProcessTree } from './process-tree.js';
import { describeSpawnFailure, type SpawnFailure } from './spawn-failure.js';
import { RestartTracker, wantsRestart, type EndedInstance } from './restart-policy.js';
import { transition, type Action, type Event, type State } from './state-machine.js';
import { measure, UsageTracker, type ProcTable, type ResourceUsageNow } from './usage.js';

/** Why an instance ended. */
// unobserved: the instance ended while no daemon ran, and nothing recorded how.
// unhealthy, not-ready, watchdog: killed by the daemon because its liveness probe failed, its
// readiness probe gave up, or it missed its sd_notify watchdog; the restart policy applies.
export type ExitReason = 'exited' | 'stopped' | 'killed' | 'spawn-failed' | 'unobserved' | 'unhealthy' | 'not-ready' | 'watchdog';
/** Why the daemon itself ends an instance that is not being stopped. */
export type FailureKill = 'unhealthy' | 'not-ready' | 'watchdog';

export interface ExitRecord {
  instance: string | null;
  pid: number | null;
  code: number | null;
  signal: string | null;
  coreDumped: boolean;
  /** CPU times, and the instance's own peak memory or why it is unknown (memory-peak.ts). */
  rusage: InstanceUsage | null;
  reason: ExitReason;
  startedAt: string | null;
  endedAt: string;
  uptimeMs: number;
  /** For spawn-failed: what the kernel said, at which step, and about which path. */
  error: SpawnFailure | null;
  /** For unhealthy, not-ready and watchdog: which check failed, and how. */
  detail?: string;
}

export interface ServiceInfo {
  id: string;
  name: string | null;
  state: State;
  /** Why the service is in this state, in words. */
  reason: string;
  pid: number | null;
  instance: string | null;
  startedAt: string | null;
  restarts: number;
  exit: ExitRecord | null;
  /** Captured output: what was written and what was lost; null when nothing is captured. */
  logs: LogStatus | null;
  killMode: ServiceDefinition['killMode'];
  command: string[];
  labels: Record<string, string>;
  origin: 'api' | 'config';
  /** Each dependsOn entry with whether its condition holds now, and why not. */
  dependencies: DependencyState[];
  /** Liveness: unknown without a liveness probe, or before its first verdict on this instance. */
  health: Health;
  /** The last sd_notify STATUS= of the instance; null when none. */
  statusText: string | null;
  /** The probes of the current instance (null: none defined, or not started). */
  probes: { readiness: ProbeStatus | null; liveness: ProbeStatus | null };
  /** sd_notify (notify services): the socket, what the instance said, datagrams dropped. */
  notify: (NotifyStatus & { socket: string; datagrams: NotifyCounters }) | null;
  /** What the running instance costs, as last sampled (usage-sampler.ts); null when none runs or before its first sample. */
  usage: ResourceUsageNow | null;
}

/** One spawn of a service, made ready before the clone (see Service.prepareFirstSpawn). */
export interface PreparedSpawn {
  readonly options: SpawnOptions;
  readonly tree: ProcessTree;
  /** The instance's own cgroup (cgroup kill mode), already made. */
  readonly cgroup: ServiceCgroup | null;
  /** Set once spawned: the tree's beforeReap hook needs it. */
  child: ChildProcess | null;
}

export interface ServiceContext {
  events: EventLog;
  logger: Logger;
  /** Where this service's instance cgroups are made, when its kill mode is cgroup. */
  cgroupParent: string | null;
  /** Captured output when stdout or stderr is 'capture'. */
  logs: ServiceLogs | null;
  /** The state of each of this service's dependencies now (dependencies.ts), for its gate and info. */
  dependencies: (service: Service) => DependencyState[];
  /** Whether every dependency meets its condition: asked before every spawn. */
  gate: (service: Service) => Gate;
  /** Where notify services get their sd_notify socket (<dir>/<id>.sock); made 0700 on first use. */
  notifyDir: string | null;
  /** The environment of a spawn whose definition has none: the daemon's, prepared once. */
  inheritedEnvironment: PreparedEnvironment;
}

/** A service as a dead daemon left it (see Service.restore). */
export interface InstanceOutputs {
  readonly stdout: PipeReader | null;
  readonly stderr: PipeReader | null;
}
const NO_OUTPUTS: InstanceOutputs = { stdout: null, stderr: null };

export interface RestoredService {
  spawns: number;
  /** The state the dead daemon last recorded. */
  state: State;
  reason: string;
  lastExit: ExitRecord | null;
  /** The instance still running, held again through a pidfd, and new read ends of its captured output. */
  running: {
    process: ProcessRef;
    startedAt: number;
    cgroupDir: string | null;
    stdout: PipeReader | null;
    stderr: PipeReader | null;
    /**
     * How the instance ended as its reaper saw it, given how the kernel told us (the keeper's
     * EXIT for its child: exact on kernels without PIDFD_INFO_EXIT). Absent: the kernel's word.
     */
    exactExit?: (fromPidfd: ProcessExit) => Promise<ProcessExit>;
  } | null;
  /** How the instance that ran ended while no daemon ran. */
  endedAway: ExitRecord | null;
  /** The ended instance's output pipes the keeper kept open: what it wrote before it ended, read to EOF. */
  leftOutput?: InstanceOutputs;
}

const EXIT_HISTORY = 20;
/** States from which an instance becomes ready by itself (waitReady keeps waiting). */
const ON_THE_WAY_TO_READY: ReadonlySet<State> = new Set(['starting', 'waiting']);
const SIGKILL = 9;
// systemd's default WatchdogSignal: a core dump of the hung process, where it is enabled.
const SIGABRT = 6;
// After SIGKILL to the whole tree, how long to wait for the kernel to finish it off.
const AFTER_KILL_GRACE_MS = 10_000;

type StopWaiter = (error: Error | null) => void;

export class Service {
  readonly id: string;
  readonly origin: 'api' | 'config';
  readonly #context: ServiceContext;
  readonly #logger: Logger;
  /** The tree of the current (or last) instance, with its own cgroup in cgroup mode. */
  #tree: ProcessTree;
  #cgroup: ServiceCgroup | null = null;
  #eventRef: { readonly id: string; readonly name: string | null } | null = null;
  readonly #tracker = new RestartTracker();
  readonly #exits: ExitRecord[] = [];
  #definition: ServiceDefinition;
  #state: State = 'stopped';
  #reason = 'created';
  // A ProcessRef, not always our ChildProcess: an instance re-adopted after a daemon restart.
  #child: ProcessRef | null = null;
  /** The current instance's captured output pipes (the daemon's read ends), for the keeper's deposit. */
  #outputs: InstanceOutputs = NO_OUTPUTS;
  #startedAt = 0;
  /** Spawn attempts, failed ones included: `restarts` counts the retries of a command that cannot start. */
  #spawns = 0;
  #escalated = false;
  #queuedRestart = false;
  /**
   * Clean-ups still running for instances that ended by themselves (their leftovers killed,
   * their cgroups removed): a removal waits for them, so nothing of the service outlives it.
   */
  readonly #cleanups = new Set<Promise<void>>();
  /** The timeout of the stop in progress (the caller's, or the definition's). */
  #stopTimeoutMs = 0;
  #stopWaiters: StopWaiter[] = [];
  #exitWaiters: Array<(record: ExitRecord) => void> = [];
  #stableTimer: NodeJS.Timeout | undefined;
  // An Immediate for a restart with no delay (see #decideAfterEnd).
  #backoffTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  /** What the restart policy made of the exit being handled, decided before its record (#onMainExit). */
  #exitDecision: RestartDecision | null = null;
  /** The next instance, cloned at an exit before the exit is recorded (#cloneAhead); null otherwise. */
  #clonedAhead: ClonedInstance | null = null;
  #stopTimer: NodeJS.Timeout | undefined;
  /** The probes of the current instance; null when it has none (or none runs). */
  #probes: InstanceProbes | null = null;
  /** How the current instance became ready, for the state's reason. */
  #readyReason = '';
  #statusText: string | null = null;
  /** Set while the daemon kills the instance for a failure of its own (see FailureKill). */
  #failureKill: { reason: FailureKill; detail: string } | null = null;
  #failureKillTimer: NodeJS.Timeout | undefined;
  #readyWaiters: Array<(outcome: ReadyOutcome) => void> = [];
  /** The service's sd_notify socket (notify services), kept across instances. */
  #notifyEndpoint: NotifyEndpoint | null = null;
  /** What the current instance said through it, and its watchdog. */
  #notify: InstanceNotify | null = null;
  /** Which processes belong to the current instance (sd_notify senders, MAINPID=). */
  #membership: InstanceMembership | null = null;
  /** A notify readiness probe's timeoutMs: no READY=1 by then, the start failed. */
  #startTimer: NodeJS.Timeout | undefined;
  #startDeadline = 0;
  #stopDeadline = 0;
  /** The samples of the current instance's usage; replaced when another instance runs. */
  #usage: UsageTracker | null = null;

  constructor(id: string, definition: ServiceDefinition, origin: 'api' | 'config', context: ServiceContext) {
    this.id = id;
    this.origin = origin;
    this.#definition = definition;
    this.#context = context;
    this.#logger = context.logger;
    this.#tree = new ProcessTree(definition.killMode, null);
  }

  get name(): string | null {
    return this.#definition.name;
  }

  /**
   * The `service` of its events: one object for all of them while its name stays, not one per
   * event (the event log keeps the last 10,000 events, long after their services are removed).
   */
  get eventRef(): { readonly id: string; readonly name: string | null } {
    const name = this.#definition.name;
    if (this.#eventRef?.name !== name) this.#eventRef = Object.freeze({ id: this.id, name });
    return this.#eventRef;
  }

  get state(): State {
    return this.#state;
  }

  get definition(): ServiceDefinition {
    return this.#definition;
  }

  /** Why the service is in its state, in words (as info().reason, without building the rest). */
  get reason(): string {
    return this.#reason;
  }

  get logs(): ServiceLogs | null {
    return this.#context.logs;
  }

  /** The cgroup of the current instance (cgroup kill mode), else null. */
  get cgroup(): ServiceCgroup | null {
    return this.#cgroup;
  }

  get exits(): readonly ExitRecord[] {
    return this.#exits;
  }

  info(): ServiceInfo {
    const child = this.#child;
    return {
      id: this.id,
      name: this.#definition.name,
      state: this.#state,
      reason: this.#reason,
      pid: child?.pid ?? null,
      instance: child?.instance ?? null,
      startedAt: child === null ? null : new Date(this.#startedAt).toISOString(),
      restarts: Math.max(0, this.#spawns - 1),
      exit: this.#exits.at(-1) ?? null,
      logs: this.#context.logs?.status() ?? null,
      killMode: this.#definition.killMode,
      command: this.#definition.command,
      labels: this.#definition.labels,
      origin: this.origin,
      dependencies: this.#definition.dependsOn.length === 0 ? [] : this.#context.dependencies(this),
      health: this.health,
      statusText: this.#statusText,
      probes: this.#probes?.status() ?? { readiness: null, liveness: null },
      notify: this.#notifyInfo(),
      usage: child !== null && this.#usage?.instance === child.instance ? this.#usage.latest : null,
    };
  }

  #notifyInfo(): ServiceInfo['notify'] {
    const endpoint = this.#notifyEndpoint;
    if (endpoint === null) return null;
    const said = this.#notify?.status ?? { reloading: false, reloadMonotonicUsec: null, stopping: false, errno: null, watchdogMs: this.#definition.watchdogMs, lastWatchdogAt: null };
    return { socket: endpoint.path, ...said, datagrams: { ...endpoint.counters } };
  }

  /** Liveness of the current instance (see ServiceInfo.health). */
  get health(): Health {
    return this.#probes?.health ?? 'unknown';
  }

  /**
   * Resolves once the current (or next) instance is ready (`running`), or with the reason it
   * will not be: it ended, failed to start, was stopped first, or is blocked by a dependency.
   * A service `waiting` for its dependencies is still on its way.
   */
  waitReady(): Promise<ReadyOutcome> {
    if (this.#state === 'running') return Promise.resolve({ ready: true, reason: this.#reason });
    if (!ON_THE_WAY_TO_READY.has(this.#state)) return Promise.resolve({ ready: false, reason: `${this.#state}: ${this.#reason}` });
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  /** Samples what the current instance costs now (usage-sampler.ts decides when). */
  sampleUsage(table: ProcTable, now: { wall: number; monotonic: number }): void {
    const child = this.#child;
    if (child === null) {
      this.#usage = null;
      return;
    }
    if (this.#usage?.instance !== child.instance) this.#usage = new UsageTracker(child.instance, this.#startedAt);
    this.#usage.record(measure({ pid: child.pid, mode: this.#tree.mode, cgroupDir: this.#cgroup?.dir ?? null }, table), now);
  }

  /** How old the current instance's usage sample is (Infinity before the first); null when none runs. */
  usageAgeMs(nowMonotonic: number): number | null {
    const child = this.#child;
    if (child === null) return null;
    return this.#usage?.instance === child.instance ? this.#usage.ageMs(nowMonotonic) : Infinity;
  }

  /** Starts the service. Throws SPAWN_FAILED (the service then backs off or fails) or a rejection. */
  start(): void {
    this.#tracker.reset(); // asked for by someone: "failed until asked again"
    this.#dispatch('start');
  }

  /** A dependency changed: a waiting or blocked service checks its gate again (and may spawn: SPAWN_FAILED). */
  wake(): void {
    this.#dispatch('dependencies');
  }

  /**
   * Resolves once the whole tree is gone (at once when already stopped). With `instance`,
   * only if that is still the current one (see #expectInstance).
   */
  async stop(timeoutMs?: number, instance?: string): Promise<void> {
    if (instance !== undefined) this.#expectInstance(instance, 'stopped');
    const action = this.#dispatch('stop', timeoutMs);
    if (action.kind === 'beginStop' || action.kind === 'joinStop') await this.#stopped();
  }

  /**
   * Stops the current instance (if any) and starts a new one; concurrent calls share one
   * restart. A removal that begins meanwhile wins: nothing starts, and SERVICE_NOT_FOUND says so.
   */
  async restart(timeoutMs?: number, instance?: string): Promise<void> {
    if (instance !== undefined) this.#expectInstance(instance, 'restarted');
    this.#tracker.reset();
    const action = this.#dispatch('restart', timeoutMs);
    if (action.kind === 'beginStop' || action.kind === 'queueRestart') await this.#stopped();
    if (this.#state === 'removed') {
      throw new SupervisorError('SERVICE_NOT_FOUND', `service ${this.#label()} was removed during the restart; it was not started again`, { state: this.#state });
    }
  }

  /**
   * Stops the whole tree, never to start again, and resolves once it is gone and every
   * clean-up of earlier instances has ended: the service is then `removed` and its owner
   * may forget it. Concurrent removals (and stops) share the same stop.
   */
  async remove(timeoutMs?: number): Promise<void> {
    const action = this.#dispatch('remove', timeoutMs);
    if (action.kind === 'beginRemoval' || action.kind === 'joinRemoval' || action.kind === 'joinStop') await this.#stopped();
    while (this.#cleanups.size > 0) await Promise.all(this.#cleanups);
  }

  /**
   * Signals the current instance through its pidfd. With `instance`, only if that is still
   * the current one: otherwise INSTANCE_MISMATCH and nothing is sent.
   */
  signal(signal: number, options: { instance?: string; processGroup?: boolean } = {}): { pid: number; instance: string } {
    const child = this.#child;
    if (child === null) throw new SupervisorError('NOT_RUNNING', `service ${this.#label()} has no running instance`, { state: this.#state });
    if (options.instance !== undefined) this.#expectInstance(options.instance, 'signalled');
    try {
      child.signal(signal, { processGroup: options.processGroup === true });
    } catch (error) {
      if (error instanceof ProcessExitedError) throw new SupervisorError('NOT_RUNNING', `service ${this.#label()} has already exited`);
      throw error;
    }
    return { pid: child.pid, instance: child.instance };
  }

  /** The precondition below, for the supervisor to check before a stop or restart reaches dependents. */
  expectInstance(instance: string, what: 'stopped' | 'restarted'): void {
    this.#expectInstance(instance, what);
  }

  /**
   * The precondition of a request made about one instance (a dashboard button, a script
   * that read `instance` first): it goes ahead only while that instance is the current one,
   * so a request that crossed a restart never reaches the instance that replaced it.
   */
  #expectInstance(instance: string, what: string): void {
    const child = this.#child;
    if (child === null) throw new SupervisorError('NOT_RUNNING', `service ${this.#label()} has no running instance; nothing was ${what}`, { state: this.#state });
    if (instance !== child.instance) {
      throw new SupervisorError('INSTANCE_MISMATCH', `instance ${instance} is not the current one (${child.instance}); nothing was ${what}`, { current: child.instance });
    }
  }

  /** The exit of the current instance, or the last exit when nothing runs (null if none yet). */
  wait(): Promise<ExitRecord | null> {
    if (this.#child === null) return Promise.resolve(this.#exits.at(-1) ?? null);
    return new Promise((resolve) => this.#exitWaiters.push(resolve));
  }

  /**
   * Replaces the definition (a config reload): the service keeps its id, exit history,
   * restart count and logs. An instance already running keeps what it was started with (its
   * tree, its cgroup); the next spawn uses the new definition. `logs`: the capture to use
   * from now on, when the service had none.
   */
  redefine(definition: ServiceDefinition, logs: ServiceLogs | null): void {
    this.#definition = definition;
    if (logs !== null) this.#context.logs = logs;
  }

  /** Instances started so far, in this daemon's life and the lives before it. */
  get spawns(): number {
    return this.#spawns;
  }

  /** The process of the current instance, or null when none runs. */
  get process(): ProcessRef | null {
    return this.#child;
  }

  /** The read ends of the current instance's captured stdout and stderr (null: not captured, or none runs). */
  get outputs(): InstanceOutputs {
    return this.#outputs;
  }

  /**
   * Lets the current instance run on unsupervised: the service becomes `removed` without a
   * stop, no timer of it fires, its pidfd is closed (Supervisor.release: a start that failed
   * after a take-over leaves the instances to the next daemon).
   */
  release(): void {
    this.#clearTimers();
    // The socket file stays: the next daemon binds it again, and the instance's NOTIFY_SOCKET still reaches it.
    this.#closeNotifyEndpoint(false);
    this.#notify?.close();
    this.#state = 'removed';
    const child = this.#child;
    this.#child = null;
    this.#outputs = NO_OUTPUTS;
    child?.close();
  }

  /**
   * Takes the service over from a daemon that died (daemon/take-over.ts): its counters and
   * last exit, then either its running instance, held again, or how that instance ended
   * while no daemon ran, to which the restart policy then applies. Once, on a new service.
   */
  restore(restored: RestoredService): void {
    if (this.#state !== 'stopped' || this.#spawns !== 0) {
      throw new Error(`restore: service ${this.#label()} is not a new service`);
    }
    this.#spawns = restored.spawns;
    if (restored.lastExit !== null) this.#record(restored.lastExit);
    const wasStopping = restored.state === 'stopping';
    const running = restored.running;
    if (running !== null) {
      const child = running.process;
      this.#cgroup = running.cgroupDir === null ? null : new ServiceCgroup(running.cgroupDir);
      this.#tree = new ProcessTree(this.#definition.killMode, this.#cgroup);
      this.#child = child;
      this.#startedAt = running.startedAt;
      const logs = this.#context.logs;
      if (logs !== null && running.stdout !== null) logs.attach('stdout', running.stdout);
      if (logs !== null && running.stderr !== null) logs.attach('stderr', running.stderr);
      if (logs !== null) this.#outputs = { stdout: running.stdout, stderr: running.stderr };
      // Readiness survives the take-over: an instance recorded `starting` is probed again
      // (what it already waited counts against initialDelayMs and the grace period), one
      // recorded `running` was ready and keeps being checked for liveness.
      const upMs = Date.now() - running.startedAt;
      const graceLeft = this.#definition.startGraceMs - upMs;
      const readiness = this.#definition.readiness;
      const waitsForReadiness = readiness !== null || this.#definition.notify;
      this.#probes = this.#newProbes();
      if (this.#definition.notify) {
        // Bound again at the same path: the instance's NOTIFY_SOCKET reaches this daemon now.
        try {
          this.#openNotifyEndpoint();
        } catch (error) {
          this.#logger.error({ err: error }, 'the sd_notify socket could not be bound again; READY=1 and the watchdog go unheard');
        }
        this.#beginNotify(child, this.#cgroup);
      }
      if (restored.state === 'starting' && waitsForReadiness) {
        this.#setState('starting', 're-adopted after a daemon restart; still waiting to be ready');
        if (readiness !== null) this.#probes?.startReadiness(readiness, upMs);
      } else if (restored.state === 'starting' && graceLeft > 0) {
        this.#setState('starting', 're-adopted after a daemon restart');
        this.#stableTimer = setTimeout(() => this.#dispatch('stable'), graceLeft);
      } else {
        this.#setState('running', 're-adopted after a daemon restart');
        const liveness = this.#definition.liveness;
        if (liveness !== null && restored.state !== 'stopping') this.#probes?.startLiveness(liveness);
      }
      const exactExit = running.exactExit ?? ((exit: ProcessExit) => Promise.resolve(exit));
      // The daemon's peak read at the exit, not here: this daemon did not spawn it, so no
      // figure of its own bounds the child's, and a later (higher) peak only makes the
      // ru_maxrss test stricter. One getrusage per exit instead of 1,000 in a take-over.
      child.wait().then(exactExit).then(
        (exit) => this.#onMainExit(child, exit, daemonPeakRssKiB()),
        (error: unknown) => this.#logger.error({ err: error, pid: child.pid }, 'waiting for the exit failed'),
      );
      // A stop the dead daemon had begun is finished by this one.
      if (wasStopping) this.stop().catch((error: unknown) => this.#logger.error({ err: error }, 'finishing the stop failed'));
      return;
    }
    const ended = restored.endedAway;
    const logs = this.#context.logs;
    for (const stream of ['stdout', 'stderr'] as const) {
      const left = restored.leftOutput?.[stream] ?? null;
      if (left !== null && logs !== null) logs.attach(stream, left);
      else left?.close();
    }
    if (ended !== null) {
      this.#record(ended);
      // What it left in its cgroup is killed by the take-over's sweep of unowned cgroups.
      this.#context.events.append({ type: 'exit', service: this.eventRef, pid: ended.pid, instance: ended.instance, exit: ended });
    }
    const last = this.#exits.at(-1);
    if (wasStopping) this.#setState('stopped', 'stopped while no daemon ran');
    else if ((ended !== null || restored.state === 'backoff') && last !== undefined) this.#decideAfterEnd(last);
    // Parked as it was: its own state event wakes it a microtask later, once the whole
    // (synchronous) take-over has run, so a dependency restored after it is there.
    else if (restored.state === 'waiting' || restored.state === 'blocked') this.#setState(restored.state, restored.reason);
    else this.#setState(restored.state === 'exited' || restored.state === 'failed' ? restored.state : 'stopped', restored.reason);
  }

  #label(): string {
    return this.#definition.name ?? this.id;
  }

  #stopped(): Promise<void> {
    return new Promise((resolve, reject) => this.#stopWaiters.push((error) => (error === null ? resolve() : reject(error))));
  }

  #dispatch(event: Event, stopTimeoutMs?: number): Action {
    const action = transition(this.#state, event);
    switch (action.kind) {
      case 'spawn':
        this.#spawnWhenMet();
        break;
      case 'beginStop':
        this.#beginStop(action.thenStart ? 'restart' : 'stop', stopTimeoutMs ?? this.#definition.stopTimeoutMs);
        break;
      case 'beginRemoval':
        this.#beginStop('remove', stopTimeoutMs ?? this.#definition.stopTimeoutMs);
        break;
      case 'queueRestart':
        this.#queuedRestart = true;
        break;
      case 'joinStop':
        // A stop asked for during a restart wins: the service ends stopped, not restarted.
        this.#queuedRestart = false;
        break;
      case 'joinRemoval':
        // The stop in progress goes on (its signal is sent, its timer runs); what follows it changes.
        this.#queuedRestart = false;
        this.#setState('removing', 'removal requested during a stop');
        break;
      case 'handleExit': {
        const decided = this.#exitDecision;
        this.#exitDecision = null;
        this.#decideAfterEnd(this.#exits.at(-1)!, decided ?? undefined);
        break;
      }
      case 'markRunning':
        this.#becomeReady(this.#readyReason || `running for ${this.#definition.startGraceMs} ms`);
        break;
      case 'escalate':
        this.#escalate();
        break;
      case 'finishStop':
        this.#finishStop();
        break;
      case 'finishRemoval':
        this.#finishRemoval();
        break;
      case 'cancelBackoff':
        this.#clearBackoff();
        if (action.thenStart) this.#spawnWhenMet();
        else this.#setState('stopped', 'stopped during backoff');
        break;
      case 'settle':
        this.#setState('stopped', 'stopped on request');
        break;
      case 'forget':
        this.#clearTimers();
        this.#setState('removed', 'removed');
        break;
      case 'nop':
        this.#logger.debug({ event, state: this.#state, reason: action.reason }, 'event ignored');
        break;
      case 'reject':
        throw new SupervisorError(action.code, `cannot ${event} service ${this.#label()}: ${action.reason}`, { state: this.#state });
    }
    return action;
  }

  /**
   * Starts a service that has never run, with a child spawned by the caller from
   * prepareFirstSpawn() (Supervisor.launchMany spawns a batch at once). Throws SPAWN_FAILED as
   * start() does.
   */
  startPrepared(attempt: { prepared: PreparedSpawn; outcome: ChildProcess | Error } | { prepared: Error; outcome: Error }): void {
    // A misuse, not a runtime condition: the supervisor prepares, spawns and starts a new
    // service in one synchronous step, so nothing can start or remove it in between.
    if (this.#state !== 'stopped' || this.#spawns !== 0) {
      throw new Error(`startPrepared: service ${this.#label()} is not a new service`);
    }
    this.#tracker.reset();
    if (attempt.prepared instanceof Error) this.#onSpawnFailed(attempt.prepared);
    this.#completeSpawn(attempt.prepared, attempt.outcome);
  }

  /**
   * What the first spawn of a new service needs (its cgroup is made here), or why it cannot
   * be made; the caller spawns it and hands the outcome to startPrepared().
   */
  prepareFirstSpawn(): PreparedSpawn | Error {
    try {
      return this.#prepareSpawn();
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  /**
   * Every spawn but a batch's first (whose services have no dependencies) comes here: a new
   * instance if every dependency meets its condition, else waiting or blocked with the
   * reason, until the `dependencies` event brings the service back. A parked service whose
   * reason is unchanged records nothing: a dependency's every change must not make events.
   */
  #spawnWhenMet(): void {
    const cloned = this.#clonedAhead;
    if (cloned !== null) {
      // Its gate was asked just before its clone, in this same synchronous step (#cloneAhead).
      this.#clonedAhead = null;
      this.#completeSpawn(cloned.prepared, cloned.outcome);
      return;
    }
    const gate = this.#context.gate(this);
    if (gate.status === 'met') {
      this.#spawn();
      return;
    }
    this.#clearTimers();
    if (this.#state !== gate.status || this.#reason !== gate.reason) this.#setState(gate.status, gate.reason);
  }

  #spawn(): void {
    let prepared: PreparedSpawn;
    try {
      prepared = this.#prepareSpawn();
    } catch (error) {
      this.#onSpawnFailed(error);
    }
    this.#completeSpawn(prepared, clone(prepared));
  }

  /**
   * A restart with no delay clones the next instance first thing at the exit, and only then
   * records the exit (its record, events, journal lines and log line, the restart decision's
   * `backoff`) and completes the spawn: the clone no longer waits for that bookkeeping, which in
   * V8's interpreter was most of what pidvisor's restart cost beyond runit's (bench/restart).
   * Nobody sees the instance before its events: they come in the same order as before (exit,
   * backoff, then starting or running), in the same synchronous step, so the journal still holds
   * each before any client can read it. Not when the gate is closed (the ordinary path parks the
   * service) nor when something cannot be prepared (the ordinary path records why).
   */
  #cloneAhead(): void {
    if (this.#context.gate(this).status !== 'met') return;
    let prepared: PreparedSpawn;
    try {
      prepared = this.#prepareSpawn();
    } catch {
      return;
    }
    this.#clonedAhead = { prepared, outcome: clone(prepared) };
  }

  /**
   * An instance cloned ahead whose restart did not happen after all: a listener of the exit or
   * backoff event stopped, removed or started the service meanwhile. It was never the
   * service's (no event, record or API answer named it): it is killed with its tree, reaped,
   * and its cgroup removed, and a removal waits for that.
   */
  #discardClonedAhead(): void {
    const cloned = this.#clonedAhead;
    this.#clonedAhead = null;
    if (cloned === null) return;
    const { prepared, outcome } = cloned;
    if (outcome instanceof Error) {
      if (prepared.cgroup !== null) this.#removeCgroup(prepared.cgroup);
      return;
    }
    prepared.child = outcome; // not the service's child: its beforeReap leaves the tree alone
    outcome.stdoutReader?.close();
    outcome.stderrReader?.close();
    this.#logger.info({ pid: outcome.pid }, 'the instance cloned for a restart that was called off is killed');
    prepared.tree.kill(outcome);
    const cleanup = outcome
      .wait()
      .then(() => this.#endRemains(prepared.tree, prepared.cgroup, outcome.pid))
      .catch((error: unknown) => this.#logger.error({ err: error, pid: outcome.pid }, 'ending an instance cloned ahead failed'))
      .finally(() => this.#cleanups.delete(cleanup));
    this.#cleanups.add(cleanup);
  }

  #prepareSpawn(): PreparedSpawn {
    this.#clearTimers();
    const definition = this.#definition;
    const [command, ...args] = definition.command as [string, ...string[]];
    const capture = (mode: 'capture' | 'inherit' | 'null') => (mode === 'capture' ? 'reader' : mode);
    const cgroup =
      definition.killMode === 'cgroup' && this.#context.cgroupParent !== null
        ? ServiceCgroup.create(path.join(this.#context.cgroupParent, `${this.#label()}.${this.id}.${this.#spawns + 1}`))
        : null;
    const tree = new ProcessTree(definition.killMode, cgroup);
    const env = this.#notifyEnv(definition);
    const prepared: PreparedSpawn = {
      tree,
      cgroup,
      child: null,
      options: {
        command,
        args,
        env: env ?? this.#context.inheritedEnvironment,
        ...(definition.cwd === undefined ? {} : { cwd: definition.cwd }),
        ...(definition.credentials === null ? {} : definition.credentials),
        ...(definition.umask === undefined ? {} : { umask: definition.umask }),
        rlimits: definition.rlimits,
        // Always a session of its own: a terminal's ^C must not reach services, and a
        // group or cgroup stop needs the main process to lead a group.
        detach: 'session',
        stdio: [definition.stdin, capture(definition.stdout), capture(definition.stderr)],
        ...(cgroup === null ? {} : { cgroup: cgroup.dir }),
        // The exit is delivered from the event loop, after completeSpawn has set the child.
        // Not for a main process that MAINPID= has replaced: the instance goes on without it.
        // Only where the tree acts on it: without a hook the addon reaps at once, with no
        // waitid(WNOWAIT) peek and no call into JS on the exit's path (bench/restart).
        ...(tree.actsBeforeReap
          ? {
              beforeReap: () => {
                if (this.#child === prepared.child) tree.onMainExited(prepared.child!);
              },
            }
          : {}),
      },
    };
    return prepared;
  }

  #completeSpawn(prepared: PreparedSpawn, outcome: ChildProcess | Error): void {
    if (outcome instanceof Error) {
      if (prepared.cgroup !== null) this.#removeCgroup(prepared.cgroup);
      this.#onSpawnFailed(outcome);
    }
    const child = outcome;
    prepared.child = child;
    this.#tree = prepared.tree;
    this.#cgroup = prepared.cgroup;
    this.#spawns++;
    this.#child = child;
    this.#startedAt = Date.now();
    this.#escalated = false;
    const definition = this.#definition;
    const logs = this.#context.logs;
    if (logs !== null) {
      const { stdoutReader: stdout, stderrReader: stderr } = child;
      if (stdout !== null) logs.attach('stdout', stdout);
      if (stderr !== null) logs.attach('stderr', stderr);
      this.#outputs = { stdout, stderr };
    }
    this.#logger.info({ pid: child.pid, instance: child.instance }, 'started');
    this.#statusText = null;
    this.#failureKill = null;
    this.#readyReason = '';
    this.#probes = this.#newProbes();
    this.#beginNotify(child, prepared.cgroup);
    const readiness = definition.readiness;
    if (readiness?.check.kind === 'notify' && readiness.timeoutMs > 0) this.#armStartTimeout(readiness.timeoutMs);
    if (readiness !== null) {
      this.#setState('starting', `started; waiting for the ${readiness.check.kind === 'notify' ? 'sd_notify READY=1' : `${readiness.check.kind} readiness probe`}`);
      this.#probes?.startReadiness(readiness);
    } else if (definition.notify) {
      this.#setState('starting', 'started; waiting for sd_notify READY=1');
    } else if (definition.startGraceMs === 0) {
      this.#becomeReady('started');
    } else {
      this.#setState('starting', `started; running once up for ${definition.startGraceMs} ms`);
      this.#stableTimer = setTimeout(() => this.#dispatch('stable'), definition.startGraceMs);
    }
    // Read after the spawn: the daemon's peak that the child's ru_maxrss must pass to be its own.
    const daemonPeakKiB = daemonPeakRssKiB();
    child.wait().then(
      (exit) => this.#onMainExit(child, exit, daemonPeakKiB),
      (error: unknown) => this.#logger.error({ err: error, pid: child.pid }, 'waiting for the exit failed'),
    );
  }

  #newProbes(): InstanceProbes | null {
    const definition = this.#definition;
    if (definition.readiness === null && definition.liveness === null) return null;
    const resources = { definition, logs: this.#context.logs, cgroupParent: this.#context.cgroupParent, label: this.#label() };
    return new InstanceProbes(resources, {
      ready: (reason) => {
        this.#readyReason = reason;
        this.#dispatch('stable');
      },
      notReady: (reason) => this.#killForFailure('not-ready', reason),
      health: (health, reason) => {
        this.#logger.info({ health, reason }, 'health changed');
        const child = this.#child;
        this.#context.events.append({ type: 'health', service: this.eventRef, health, reason, pid: child?.pid ?? null, instance: child?.instance ?? null });
      },
      unhealthy: (reason) => this.#killForFailure('unhealthy', reason),
    });
  }

  // The environment of a spawn: NOTIFY_SOCKET (and WATCHDOG_USEC) for notify services,
  // whose socket is bound at their first spawn. No WATCHDOG_PID: the pid is not known before
  // the clone, and without it sd_watchdog_enabled() holds for the process that reads it.
  #notifyEnv(definition: ServiceDefinition): Record<string, string> | null {
    if (!definition.notify) {
      this.#closeNotifyEndpoint(true); // a reload may have turned it off
      return definition.env;
    }
    const endpoint = this.#openNotifyEndpoint();
    return {
      ...(definition.env ?? inheritedEnv()),
      NOTIFY_SOCKET: endpoint.path,
      ...(definition.watchdogMs === null ? {} : { WATCHDOG_USEC: String(definition.watchdogMs * 1000) }),
    };
  }

  #openNotifyEndpoint(): NotifyEndpoint {
    if (this.#notifyEndpoint !== null) return this.#notifyEndpoint;
    const dir = this.#context.notifyDir;
    if (dir === null) throw new Error('notify: this daemon has no directory for sd_notify sockets');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // 0600 and in a 0700 directory: only the daemon's user (and root) can send. A service run
    // as another user gets the file as its own, so that it can connect to it.
    const socket = NotifySocket.bind(path.join(dir, `${this.id}.sock`), 0o600);
    const credentials = this.#definition.credentials;
    if (credentials !== null) {
      fs.chownSync(socket.path, credentials.uid, credentials.gid);
      fs.chmodSync(dir, 0o711);
    }
    this.#notifyEndpoint = new NotifyEndpoint(socket, {
      isOwnSender: (sender) => this.#membership?.contains(sender.pid, sender.cgroupId) ?? false,
      onMessage: (fields, fds) => {
        if (this.#notify === null) {
          closeFds(fds);
          return;
        }
        this.#notify.handle(fields, fds);
      },
    });
    return this.#notifyEndpoint;
  }

  #closeNotifyEndpoint(unlink: boolean): void {
    this.#notifyEndpoint?.close({ unlink });
    this.#notifyEndpoint = null;
  }

  // What the new instance says through sd_notify, and its watchdog from now.
  #beginNotify(child: ProcessRef, cgroup: ServiceCgroup | null): void {
    this.#notify?.close();
    this.#membership = new InstanceMembership(child, cgroup);
    if (!this.#definition.notify) {
      this.#notify = null;
      return;
    }
    const readiness = this.#definition.readiness;
    this.#notify = new InstanceNotify(this.#definition.watchdogMs, {
      ready: () => {
        // With a readiness probe of another kind, the probe decides, not READY=1.
        if (readiness !== null && readiness.check.kind !== 'notify') return;
        if (this.#state !== 'starting') return;
        clearTimeout(this.#startTimer);
        this.#readyReason = 'ready: sd_notify READY=1';
        this.#dispatch('stable');
      },
      status: (text) => {
        this.#statusText = text;
        const current = this.#child;
        this.#context.events.append({ type: 'status', service: this.eventRef, statusText: text, pid: current?.pid ?? null, instance: current?.instance ?? null });
      },
      watchdogFailed: (detail) => this.#killForFailure('watchdog', detail, SIGABRT),
      extendTimeout: (ms) => this.#extendTimeout(ms),
      mainPid: (pid) => this.#takeMainPid(pid),
      mainPidfd: (fd) => {
        const ref = holdReceivedPidfd(fd);
        if (ref !== null) this.#switchMain(ref);
      },
    });
  }

  #armStartTimeout(ms: number): void {
    clearTimeout(this.#startTimer);
    this.#startDeadline = Date.now() + ms;
    this.#startTimer = setTimeout(() => this.#killForFailure('not-ready', `never became ready: no sd_notify READY=1 within ${ms} ms`), ms);
  }

  // EXTEND_TIMEOUT_USEC=: the start (a notify readiness timeout) or the stop under way ends
  // no sooner than `ms` from now, as systemd extends TimeoutStartSec and TimeoutStopSec.
  #extendTimeout(ms: number): void {
    const until = Date.now() + ms;
    if (this.#state === 'starting' && this.#startDeadline > 0 && until > this.#startDeadline && this.#failureKill === null) {
      this.#armStartTimeout(ms);
    } else if (this.#stopInProgress() && until > this.#stopDeadline && !this.#escalated) {
      clearTimeout(this.#stopTimer);
      this.#stopDeadline = until;
      this.#stopTimer = setTimeout(() => this.#dispatch('stopTimeout'), ms);
    }
  }

  #takeMainPid(pid: number): void {
    const membership = this.#membership;
    if (this.#child === null || pid === this.#child.pid || membership === null || !membership.contains(pid)) {
      if (this.#child !== null && pid !== this.#child.pid) this.#logger.warn({ pid }, 'MAINPID= names a process outside the instance; ignored');
      return;
    }
    let ref: ProcessRef;
    try {
      ref = openProcess(pid, { watch: true });
    } catch {
      return; // gone already
    }
    this.#switchMain(ref);
  }

  /**
   * A new main process for the instance (MAINPID=, MAINPIDFD=1), held by its pidfd: it must
   * be inside the instance (checked again now that the pidfd pins it). Only in cgroup kill
   * mode, where the tree is the cgroup whoever leads it; in the other modes the tree is the
   * main process (or its group), which a new main pid would leave behind.
   */
  #switchMain(ref: ProcessRef): void {
    const child = this.#child;
    const refuse = (why: string): void => {
      this.#logger.warn({ pid: ref.pid }, `new main pid refused: ${why}`);
      ref.close();
    };
    if (child === null || this.#stopInProgress()) return refuse('the instance is ending');
    if (ref.pid === child.pid) return ref.close();
    if (this.#cgroup === null) return refuse(`killMode ${this.#definition.killMode} cannot follow a new main process; use cgroup`);
    if (!(this.#membership?.contains(ref.pid) ?? false) || ref.exitStatus !== undefined) return refuse('not a live process of the instance');
    this.#child = ref;
    this.#logger.info({ from: child.pid, pid: ref.pid }, 'new main pid (sd_notify)');
    const daemonPeakKiB = daemonPeakRssKiB();
    ref.wait().then(
      (exit) => this.#onMainExit(ref, exit, daemonPeakKiB),
      (error: unknown) => this.#logger.error({ err: error, pid: ref.pid }, 'waiting for the exit failed'),
    );
  }

  // The instance is ready: `running`, a `ready` event, and its liveness probe starts.
  #becomeReady(reason: string): void {
    this.#setState('running', reason);
    const child = this.#child;
    this.#context.events.append({ type: 'ready', service: this.eventRef, reason, pid: child?.pid ?? null, instance: child?.instance ?? null });
    const liveness = this.#definition.liveness;
    if (liveness !== null) this.#probes?.startLiveness(liveness);
  }

  #closeProbes(): void {
    const probes = this.#probes;
    if (probes === null) return;
    this.#probes = null;
    // A removal waits for checks still running (an exec check's tree is killed first).
    const cleanup = probes
      .close()
      .catch((error: unknown) => this.#logger.error({ err: error }, 'ending the probes failed'))
      .finally(() => this.#cleanups.delete(cleanup));
    this.#cleanups.add(cleanup);
  }

  /**
   * Ends an instance the daemon judged failed (a liveness probe, a readiness probe that gave
   * up, a missed watchdog): `signal` (the stop signal unless told) to its tree, SIGKILL after
   * stopTimeoutMs. Its exit is then an ending like any other (reason `kind`), so the restart
   * policy decides what follows, as systemd does after a watchdog timeout.
   */
  #killForFailure(kind: FailureKill, detail: string, signal = this.#definition.stopSignal): void {
    const child = this.#child;
    if (child === null || this.#failureKill !== null || (this.#state !== 'starting' && this.#state !== 'running')) return;
    clearTimeout(this.#stableTimer);
    this.#failureKill = { reason: kind, detail };
    const name = signal === this.#definition.stopSignal ? this.#definition.stopSignalName : signalNameOf(signal);
    this.#reason = `${detail}; sent ${name}`;
    this.#logger.warn({ kind, detail }, 'instance failed; killing it');
    this.#tree.signal(child, signal);
    this.#failureKillTimer = setTimeout(() => {
      this.#tree.kill(this.#child);
      if (this.#child !== null) this.#tree.signal(this.#child, SIGKILL);
    }, this.#definition.stopTimeoutMs);
  }

  #onSpawnFailed(error: unknown): never {
    this.#spawns++;
    const failure = describeSpawnFailure(error, this.#definition.cwd);
    const record: ExitRecord = {
      instance: null,
      pid: null,
      code: null,
      signal: null,
      coreDumped: false,
      rusage: null,
      reason: 'spawn-failed',
      startedAt: null,
      endedAt: new Date().toISOString(),
      uptimeMs: 0,
      error: failure,
    };
    this.#record(record);
    this.#context.events.append({ type: 'spawn-failed', service: this.eventRef, reason: record.error!.message, exit: record });
    // The failure, not the Error, and not under `err`: pino's error serializer would print the
    // message again for its cause, and a stack, for what is a runtime condition and not a bug.
    this.#logger.warn({ failure }, 'spawn failed');
    this.#decideAfterEnd(record);
    const path = failure.path === null ? {} : { path: failure.path };
    throw new SupervisorError('SPAWN_FAILED', failure.message, { errno: failure.code, stage: failure.stage, ...path, state: this.#state }, error);
  }

  #onMainExit(child: ProcessRef, exit: ProcessExit, daemonPeakKiB: number): void {
    if (child !== this.#child) return; // an instance that is no longer current
    const endedAt = Date.now();
    this.#child = null;
    this.#outputs = NO_OUTPUTS;
    clearTimeout(this.#stableTimer);
    clearTimeout(this.#failureKillTimer);
    clearTimeout(this.#startTimer);
    this.#closeProbes();
    this.#notify?.close();
    this.#notify = null;
    this.#membership = null;
    const stopping = this.#stopInProgress();
    const failureKill = stopping ? null : this.#failureKill;
    this.#failureKill = null;
    const uptimeMs = endedAt - this.#startedAt;
    if (!stopping && transition(this.#state, 'exit').kind === 'handleExit') {
      this.#exitDecision = this.#restartDecision({ code: exit.code, uptimeMs, spawnFailed: false });
      // Not when someone waits for this exit (`wait`, a launch with wait=exit): they act on it
      // before the restart, as they always could (a `--rm` removes the service: no restart).
      if (this.#exitDecision.kind === 'restart' && this.#exitDecision.delayMs === 0 && this.#exitWaiters.length === 0) this.#cloneAhead();
    }
    const record: ExitRecord = {
      instance: child.instance,
      pid: child.pid,
      code: exit.code,
      signal: exit.signal,
      coreDumped: exit.coreDumped,
      // Now, while the instance's cgroup (and its memory.peak) still exists.
      rusage: instanceUsage(exit.rusage, { daemonPeakKiB, cgroupDir: this.#cgroup?.dir ?? null }),
      reason: stopping ? (this.#escalated ? 'killed' : 'stopped') : (failureKill?.reason ?? 'exited'),
      startedAt: new Date(this.#startedAt).toISOString(),
      endedAt: new Date(endedAt).toISOString(),
      uptimeMs,
      error: null,
      ...(failureKill === null ? {} : { detail: failureKill.detail }),
    };
    this.#record(record);
    this.#context.events.append({ type: 'exit', service: this.eventRef, pid: child.pid, instance: child.instance, exit: record });
    this.#logger.info({ pid: child.pid, code: exit.code, signal: exit.signal, reason: record.reason }, 'exited');
    for (const waiter of this.#exitWaiters.splice(0)) waiter(record);
    if (stopping) {
      this.#awaitTreeGone(child.pid).catch((error: unknown) => this.#logger.error({ err: error }, 'waiting for the tree failed'));
    } else {
      // A service ends with its main process: nothing of this instance is left running.
      const cleanup = this.#endRemains(this.#tree, this.#cgroup, child.pid)
        .catch((error: unknown) => this.#logger.error({ err: error }, 'releasing the cgroup failed'))
        .finally(() => this.#cleanups.delete(cleanup));
      this.#cleanups.add(cleanup);
      this.#dispatch('exit');
      this.#exitDecision = null;
      this.#discardClonedAhead(); // none left unless the restart was called off meanwhile
    }
  }

  /** What the restart policy makes of an ending (counted by the tracker when it is a restart). */
  #restartDecision(ended: EndedInstance): RestartDecision {
    const policy = this.#definition.restart;
    if (!wantsRestart(policy, ended)) return { kind: 'exited' };
    const delayMs = this.#tracker.next(policy, ended);
    return delayMs === null ? { kind: 'failed' } : { kind: 'restart', delayMs };
  }

  // Restart policy after an instance ended by itself or could not start; `decision`, when the
  // exit handling took it already (#onMainExit).
  #decideAfterEnd(record: ExitRecord, decision = this.#restartDecision({ code: record.code, uptimeMs: record.uptimeMs, spawnFailed: record.reason === 'spawn-failed' })): void {
    const policy = this.#definition.restart;
    const what = describeEnd(record);
    if (decision.kind === 'exited') {
      this.#setState('exited', what);
      return;
    }
    if (decision.kind === 'failed') {
      this.#setState('failed', `${what}; restarted ${policy.maxRestarts} times within ${policy.windowMs} ms, giving up until started again`);
      return;
    }
    const delay = decision.delayMs;
    this.#setState('backoff', `${what}; restarting in ${delay} ms`);
    const elapse = (): void => {
      try {
        this.#dispatch('backoffElapsed');
      } catch (error) {
        // A failed spawn has already been recorded and moved the service on.
        if (!(error instanceof SupervisorError && error.code === 'SPAWN_FAILED')) throw error;
      }
    };
    if (this.#clonedAhead !== null) {
      // Already cloned (#cloneAhead): the restart is now, in this step.
      elapse();
      return;
    }
    // Node clamps a 0 ms timeout to 1 ms, and a timer waits for the loop's next timers phase:
    // that millisecond was most of what pidvisor's restart cost beyond runit's (bench/restart).
    // With no delay the restart runs in this turn of the loop, once the exit's I/O callbacks are
    // done (setImmediate); never synchronously, so a command that cannot start, restarted with no
    // delay, does not recurse (each failed spawn is an ending that decides the next attempt).
    this.#backoffTimer = delay === 0 ? setImmediate(elapse) : setTimeout(elapse, delay);
  }

  #beginStop(then: 'stop' | 'restart' | 'remove', timeoutMs: number): void {
    clearTimeout(this.#stableTimer);
    clearTimeout(this.#failureKillTimer);
    clearTimeout(this.#startTimer);
    // A stop is not a failure: no probe or watchdog may decide anything about an instance
    // being stopped (its STOPPING=1 and EXTEND_TIMEOUT_USEC= are still heard).
    this.#closeProbes();
    this.#notify?.stopWatchdog();
    this.#stopTimeoutMs = timeoutMs;
    this.#queuedRestart = then === 'restart';
    const what = then === 'remove' ? 'removal' : then;
    this.#setState(then === 'remove' ? 'removing' : 'stopping', `${what} requested; sent ${this.#definition.stopSignalName}`);
    const child = this.#child;
    if (child === null) {
      this.#dispatch('treeGone');
      return;
    }
    this.#stopDeadline = Date.now() + timeoutMs;
    this.#stopTimer = setTimeout(() => this.#dispatch('stopTimeout'), timeoutMs);
    this.#tree.signal(child, this.#definition.stopSignal);
  }

  #escalate(): void {
    this.#escalated = true;
    this.#reason = `did not stop within the timeout; sent SIGKILL to the ${this.#definition.killMode}`;
    this.#logger.warn('stop timed out, killing');
    this.#tree.kill(this.#child);
    if (this.#child !== null) this.#tree.signal(this.#child, SIGKILL);
  }

  async #awaitTreeGone(leaderPid: number): Promise<void> {
    try {
      if (this.#cgroup !== null && (await this.#cgroup.removeIfEmpty())) return;
      // The stop timer still runs: when it fires, the tree is killed, and this wait ends soon after.
      let gone = await this.#tree.waitGone(leaderPid, this.#stopTimeoutMs + AFTER_KILL_GRACE_MS);
      if (!gone) {
        this.#tree.kill(null);
        gone = await this.#tree.waitGone(leaderPid, AFTER_KILL_GRACE_MS);
        if (!gone) this.#logger.error({ leaderPid }, 'processes of the service survived SIGKILL');
      }
      if (this.#cgroup !== null) this.#removeCgroup(this.#cgroup);
    } finally {
      // Whatever went wrong above, the stop ends: its callers must not wait forever.
      if (this.#stopInProgress()) this.#dispatch('treeGone');
    }
  }

  // Kills what the instance left running and removes its cgroup once that is gone. A cgroup
  // that rmdir removes held nothing: most main processes leave nothing behind, and then the
  // kill (the kernel walks the cgroup) is skipped. The old cgroup is this instance's own, so
  // a restart that begins meanwhile cannot be hit by the kill.
  async #endRemains(tree: ProcessTree, cgroup: ServiceCgroup | null, leaderPid: number): Promise<void> {
    if (cgroup !== null && (await cgroup.removeIfEmpty())) return;
    tree.killRemains();
    if (cgroup === null) return;
    if (await tree.waitGone(leaderPid, AFTER_KILL_GRACE_MS)) this.#removeCgroup(cgroup);
    else this.#logger.error({ cgroup: cgroup.dir }, 'processes of the service survived cgroup.kill');
  }

  #removeCgroup(cgroup: ServiceCgroup): void {
    const error = cgroup.tryRemove();
    if (error !== null) this.#logger.warn({ err: error, cgroup: cgroup.dir }, 'cgroup left in place');
  }

  #finishStop(): void {
    this.#clearTimers();
    const waiters = this.#stopWaiters.splice(0);
    let error: Error | null = null;
    if (this.#queuedRestart) {
      this.#queuedRestart = false;
      try {
        this.#spawnWhenMet();
      } catch (spawnError) {
        error = spawnError as Error;
      }
    } else {
      this.#setState('stopped', 'stopped on request');
    }
    for (const waiter of waiters) waiter(error);
  }

  #finishRemoval(): void {
    this.#clearTimers();
    this.#setState('removed', 'removed; its tree is gone');
    for (const waiter of this.#stopWaiters.splice(0)) waiter(null);
  }

  #stopInProgress(): boolean {
    return this.#state === 'stopping' || this.#state === 'removing';
  }

  #record(record: ExitRecord): void {
    this.#exits.push(record);
    if (this.#exits.length > EXIT_HISTORY) this.#exits.shift();
  }

  #setState(state: State, reason: string): void {
    const from = this.#state;
    this.#state = state;
    this.#reason = reason;
    if (state === 'removed') this.#closeNotifyEndpoint(true);
    if (!ON_THE_WAY_TO_READY.has(state) && this.#readyWaiters.length > 0) {
      const outcome: ReadyOutcome = state === 'running' ? { ready: true, reason } : { ready: false, reason: `${state}: ${reason}` };
      for (const waiter of this.#readyWaiters.splice(0)) waiter(outcome);
    }
    this.#context.events.append({
      type: 'state',
      service: this.eventRef,
      from,
      to: state,
      reason,
      pid: this.#child?.pid ?? null,
      instance: this.#child?.instance ?? null,
    });
  }


  #clearTimers(): void {
    clearTimeout(this.#startTimer);
    clearTimeout(this.#failureKillTimer);
    clearTimeout(this.#stableTimer);
    this.#clearBackoff();
    clearTimeout(this.#stopTimer);
  }

  #clearBackoff(): void {
    const timer = this.#backoffTimer;
    this.#backoffTimer = undefined;
    if (timer === undefined) return;
    if ('refresh' in timer) clearTimeout(timer); // a Timeout has refresh(), an Immediate has not
    else clearImmediate(timer);
  }
}

/** What the restart policy makes of an ending (see RestartTracker). */
type RestartDecision = { kind: 'exited' } | { kind: 'failed' } | { kind: 'restart'; delayMs: number };

/** An instance cloned ahead of its restart (Service.#cloneAhead), or why the clone failed. */
interface ClonedInstance {
  prepared: PreparedSpawn;
  outcome: ChildProcess | Error;
}

/** The spawn of a prepared instance: the child, or the error that says why there is none. */
function clone(prepared: PreparedSpawn): ChildProcess | Error {
  try {
    return spawn(prepared.options);
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

function describeEnd(record: ExitRecord): string {
  if (record.detail !== undefined) return `${record.detail}; ${record.signal !== null ? `killed by ${record.signal}` : `exited with code ${record.code}`}`;
  if (record.reason === 'spawn-failed') return `could not start: ${record.error?.message ?? 'unknown error'}`;
  if (record.reason === 'unobserved') return 'ended while no daemon ran; how is unknown';
  if (record.signal !== null) return `killed by ${record.signal}${record.coreDumped ? ' (core dumped)' : ''}`;
  return `exited with code ${record.code}`;
}

export interface ReadyOutcome {
  ready: boolean;
  /** How it became ready, or why it will not (its state and that state's reason). */
  reason: string;
}
