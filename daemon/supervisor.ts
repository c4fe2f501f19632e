// The supervisor: the table of services, and every command on them. The API and the CLI
// reach services only through this class (api/ depends on it through the SupervisorApi
// interface in supervisor-api.ts).
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { capabilities, PreparedEnvironment, signalNumber, spawnMany, type Capabilities, type ChildProcess, type SignalLike, type SpawnOptions } from '../native/index.js';
import { claimCgroupRoot, type CgroupRootClaim } from './cgroup.js';
import { defineEntries, entriesRefused } from './config-problems.js';
import { defineService, type DefinitionContext, type KillMode, type ServiceDefinition } from './definition.js';
import type { GraphProblem } from './dependency-graph.js';
import { DependencyTracker, type DependencyGraph } from './dependency-tracker.js';
import { SupervisorError } from './errors.js';
import { EventLog } from './events.js';
import { listLogFiles, logFilePath, ServiceLogs, type ServiceLogsOptions } from './logs/service-logs.js';
import { reportWriteFailures } from './logs/write-failure-report.js';
import { enableMemoryController } from './memory-peak.js';
import { cgroupNameFor } from './paths.js';
import { Service, type ExitRecord, type ServiceInfo } from './service.js';
import type { ServiceSpec } from './spec.js';
import { changedFields } from './spec-diff.js';
import { DEFAULT_USAGE_INTERVAL_MS, UsageSampler } from './usage-sampler.js';
import { VERSION } from './version.js';

export interface SupervisorOptions {
  stateDir: string;
  logger: Logger;
  /** Where cgroup v2 is mounted; default: found in /proc/self/mountinfo. null disables cgroups. */
  cgroupMount?: string | null;
  /**
   * This daemon's cgroup subtree, relative to the mount. Default: named after the state dir
   * (cgroupNameFor), and removed at shutdown when empty; a given name is removed only if
   * this supervisor made it. Throws CgroupBusyError when another daemon holds it.
   */
  cgroupName?: string;
  /**
   * The subtree a previous daemon of this state dir made (its journal says so): owned as if
   * made now. A daemon that took over finds the subtree there already, yet it is still ours
   * to remove once empty.
   */
  cgroupRootMadeBefore?: string | null;
  /** Base environment of services (default: the daemon's). */
  baseEnv?: Record<string, string>;
  /** Limits of captured output per service. */
  logLimits?: Pick<ServiceLogsOptions, 'maxFileBytes' | 'keepFiles' | 'tailBytes'>;
  events?: EventLog;
  /** Background sampling period of the services' resource usage (default 10 s); 0: on request only. */
  usageIntervalMs?: number;
}

export interface SystemInfo {
  version: string;
  pid: number;
  startedAt: string;
  kernel: string;
  capabilities: Capabilities;
  cgroupRoot: string | null;
  cgroupUnavailable: string | null;
  defaultKillMode: KillMode;
  stateDir: string;
  services: number;
}

/** What applying a config did, by service name, in the order of the file. */
export interface ConfigChanges {
  added: string[];
  /** Redefined in place, with the fields of the entry that changed (restart.policy, env.PATH). */
  changed: Array<{ name: string; fields: string[] }>;
  removed: string[];
  unchanged: string[];
}

/** States in which a service has (or is about to have again) an instance of its own accord. */
const ACTIVE: ReadonlySet<string> = new Set(['starting', 'running', 'backoff']);

export class Supervisor {
  readonly events: EventLog;
  readonly #logger: Logger;
  readonly #stateDir: string;
  readonly #logDir: string;
  readonly #logLimits: SupervisorOptions['logLimits'];
  /** Where notify services get their sd_notify sockets (ServiceContext.notifyDir). */
  readonly #notifyDir: string;
  readonly #services = new Map<string, Service>();
  readonly #byName = new Map<string, Service>();
  readonly #context: DefinitionContext;
  readonly #cgroupRoot: string | null;
  readonly #cgroupClaim: CgroupRootClaim;
  /** Remove the subtree at shutdown: it is named after our state dir, or we made it. */
  readonly #ownsCgroupRoot: boolean;
  readonly #startedAt = new Date().toISOString();
  #shuttingDown = false;
  #shutdown: Promise<void> | null = null;
  /** The config being applied: reloads run one after the other. */
  #configQueue: Promise<unknown> = Promise.resolve();
  readonly #dependencies: DependencyTracker;
  readonly #usage: UsageSampler;
  /** Services re-created from a previous daemon's journal: log files of theirs may exist from before. */
  readonly #restored = new WeakSet<Service>();
  /**
   * The environment of services that add nothing to the daemon's, encoded once rather than
   * read from process.env at every spawn: nothing in the daemon changes process.env after it
   * starts (the keeper's variables are taken out before, in api/cli/main.ts).
   */
  readonly #inheritedEnvironment = PreparedEnvironment.ofProcess();

  constructor(options: SupervisorOptions) {
    this.#logger = options.logger;
    this.#stateDir = options.stateDir;
    this.#logDir = path.join(options.stateDir, 'logs');
    this.#notifyDir = path.join(options.stateDir, 'notify');
    this.#logLimits = options.logLimits;
    this.events = options.events ?? new EventLog();
    this.#dependencies = new DependencyTracker({
      services: () => this.#services.values(),
      byName: (name) => this.#byName.get(name),
      byId: (id) => this.#services.get(id),
      events: this.events,
      logger: this.#logger,
    });
    fs.mkdirSync(this.#logDir, { recursive: true, mode: 0o700 });
    const mount = options.cgroupMount === undefined ? capabilities().cgroup2Mount : options.cgroupMount;
    const cgroups = claimCgroupRoot(mount, options.cgroupName ?? cgroupNameFor(options.stateDir));
    this.#cgroupClaim = cgroups;
    this.#ownsCgroupRoot = cgroups.created || options.cgroupName === undefined || (cgroups.root !== null && cgroups.root === options.cgroupRootMadeBefore);
    if (cgroups.reason !== null) this.#logger.warn({ reason: cgroups.reason }, 'cgroup kill mode unavailable; services default to group');
    this.#cgroupRoot = cgroups.root;
    if (cgroups.root !== null) {
      // For the instances' memory.peak (their exit records' maxRssKiB); without it that figure is null.
      const memoryOff = enableMemoryController(cgroups.root);
      if (memoryOff !== null) this.#logger.info({ reason: memoryOff }, 'no memory.peak for service cgroups');
    }
    this.#context = {
      defaultKillMode: cgroups.root === null ? 'group' : 'cgroup',
      cgroupUnavailable: cgroups.reason,
      baseEnv: options.baseEnv ?? null,
    };
    this.#usage = new UsageSampler({ services: () => this.#services.values(), intervalMs: options.usageIntervalMs ?? DEFAULT_USAGE_INTERVAL_MS, logger: this.#logger });
  }

  /** The cgroup subtree this daemon removes once empty at shutdown (made by it or a daemon before it), or null. */
  get ownedCgroupRoot(): string | null {
    return this.#ownsCgroupRoot ? this.#cgroupRoot : null;
  }

  system(): SystemInfo {
    const caps = capabilities();
    return {
      version: VERSION,
      pid: process.pid,
      startedAt: this.#startedAt,
      kernel: caps.kernel,
      capabilities: caps,
      cgroupRoot: this.#cgroupRoot,
      cgroupUnavailable: this.#context.cgroupUnavailable,
      defaultKillMode: this.#context.defaultKillMode,
      stateDir: this.#stateDir,
      services: this.#services.size,
    };
  }

  list(): ServiceInfo[] {
    return [...this.#services.values()].map((service) => service.info());
  }

  /** Every service object, for the daemon's own bookkeeping (list() builds each one's full info: logs, usage). */
  services(): Service[] {
    return [...this.#services.values()];
  }

  get(ref: string): ServiceInfo {
    return this.#find(ref).info();
  }

  /**
   * Brings the `usage` that list() and get() show to at most a second old: of one service
   * (throws SERVICE_NOT_FOUND), or of every one (sampled a slice at a time).
   */
  async refreshUsage(ref?: string): Promise<void> {
    if (ref === undefined) await this.#usage.refresh();
    else this.#usage.refreshOne(this.#find(ref));
  }

  /** The service object itself (logs, exit history); throws SERVICE_NOT_FOUND. */
  service(ref: string): Service {
    return this.#find(ref);
  }

  /**
   * Creates a service from an untrusted spec and, unless told otherwise, starts it. A launch
   * from the API whose first spawn fails leaves nothing behind: the service is removed and
   * SPAWN_FAILED thrown. A config service stays, backing off or failed, with the reason.
   */
  async launch(spec: unknown, options: { origin?: 'api' | 'config'; start?: boolean; waitReady?: { timeoutMs: number | null } } = {}): Promise<ServiceInfo> {
    if (this.#shuttingDown) throw new SupervisorError('SHUTTING_DOWN', 'the daemon is shutting down');
    const origin = options.origin ?? 'api';
    const definition = defineService(spec, this.#context);
    if (definition.name !== null && this.#byName.has(definition.name)) {
      throw new SupervisorError('NAME_TAKEN', `a service named ${JSON.stringify(definition.name)} exists`, { name: definition.name });
    }
    this.#refuseBadDependencies([definition]);
    const service = this.#create(definition, origin);
    if (options.start ?? definition.autostart) {
      try {
        this.#startWithDependencies(service);
      } catch (error) {
        if (origin === 'api') await this.#remove(service, { keepLogs: false });
        throw error;
      }
      if (options.waitReady !== undefined) await awaitReady(service, options.waitReady.timeoutMs);
    }
    return service.info();
  }

  /**
   * Creates and starts several services from untrusted specs, all or nothing. Every spec and
   * every name is checked before anything starts (an error names the entry: `index`); the
   * children are then spawned together, BATCH_CHUNK at a time. If one cannot start, the others
   * are stopped and forgotten and SPAWN_FAILED names it; a shutdown, or an entry removed by
   * another request between chunks, ends the batch the same way with its own code.
   */
  async launchMany(specs: readonly unknown[]): Promise<ServiceInfo[]> {
    if (this.#shuttingDown) throw new SupervisorError('SHUTTING_DOWN', 'the daemon is shutting down');
    const definitions = specs.map((spec, index) => {
      try {
        return defineService(spec, this.#context);
      } catch (error) {
        throw withIndex(error, index);
      }
    });
    const names = new Set<string>();
    definitions.forEach(({ name }, index) => {
      if (name === null) return;
      if (names.has(name)) throw new SupervisorError('NAME_TAKEN', `the name ${JSON.stringify(name)} is given twice`, { name, index });
      if (this.#byName.has(name)) throw new SupervisorError('NAME_TAKEN', `a service named ${JSON.stringify(name)} exists`, { name, index });
      names.add(name);
    });
    this.#refuseBadDependencies(definitions);
    const services = definitions.map((definition) => this.#create(definition, 'api'));
    // Services with dependencies start through their gate, after the batch's spawns.
    const autostarted = services.filter((service) => service.definition.autostart);
    const failure =
      (await this.#startInChunks(autostarted.filter((service) => service.definition.dependsOn.length === 0))) ??
      this.#startEachWithDependencies(autostarted.filter((service) => service.definition.dependsOn.length > 0));
    if (failure !== null) {
      // The services a concurrent request removed are gone already.
      await Promise.all(services.filter((service) => this.#services.get(service.id) === service).map((service) => this.remove(service.id)));
      throw withIndex(failure.error, services.indexOf(failure.service));
    }
    return services.map((service) => service.info());
  }

  /**
   * Stops and forgets, in parallel, every service whose labels include all of `labels`
   * (every service when `labels` is 'all'); answers with their last states once every tree
   * is gone.
   */
  async removeMatching(labels: Readonly<Record<string, string>> | 'all', timeoutMs?: number): Promise<ServiceInfo[]> {
    const matched = [...this.#services.values()].filter(
      (service) => labels === 'all' || Object.entries(labels).every(([key, value]) => service.definition.labels[key] === value),
    );
    // Dependents first, as at shutdown.
    const results = await this.#dependencies.stopInOrder(matched, (service) => this.remove(service.id, timeoutMs));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return results.map((result) => (result as PromiseFulfilledResult<ServiceInfo>).value);
  }

  /**
   * Refuses specs (being launched together) whose dependsOn names a service that exists
   * neither here nor among them (DEPENDENCY_UNKNOWN), or closes a cycle (DEPENDENCY_CYCLE);
   * the error names the name or the cycle, and the entry (`index`) of a batch.
   */
  #refuseBadDependencies(definitions: readonly ServiceDefinition[]): void {
    // Services that depend on nothing add no edge: they can close no cycle and name nothing
    // unknown. Skipping the check spares every plain launch a walk of all the services.
    if (definitions.every((definition) => definition.dependsOn.length === 0)) return;
    const keyOf = (definition: ServiceDefinition, index: number): string => definition.name ?? `(unnamed entry ${index})`;
    const added = new Map(definitions.map((definition, index) => [keyOf(definition, index), definition.dependsOn.map((d) => d.name)]));
    const problem: GraphProblem | undefined = this.#dependencies.problems(added)[0];
    if (problem === undefined) return;
    const index = definitions.findIndex((definition, i) => keyOf(definition, i) === problem.service);
    const at = definitions.length > 1 && index >= 0 ? { index } : {};
    const where = definitions.length > 1 && index >= 0 ? `entry ${index}: ` : '';
    if (problem.kind === 'unknown') {
      throw new SupervisorError('DEPENDENCY_UNKNOWN', `${where}dependsOn: ${problem.service} ${problem.message}`, { service: problem.service, dependency: problem.dependency, ...at });
    }
    throw new SupervisorError('DEPENDENCY_CYCLE', `${where}dependsOn: ${problem.message}`, { cycle: problem.cycle, ...at });
  }

  /**
   * A start by request (or at launch, or by autostart): first the dependencies it needs
   * that are at rest, dependencies first, each through its own gate; then the service
   * itself, which spawns or waits for them. Throws DEPENDENCY_UNAVAILABLE (nothing started)
   * when one it needs is missing or being removed, and SPAWN_FAILED as start() does. A
   * dependency that fails to spawn backs off or fails by its policy, and the service says so.
   */
  #startWithDependencies(service: Service): void {
    for (const dependency of this.#dependencies.needed(service)) {
      try {
        dependency.start();
      } catch (error) {
        ignoreSpawnFailure(error);
      }
    }
    service.start();
  }

  /** New services of a batch that have dependencies, in start order; the first failure, as #startInChunks. */
  #startEachWithDependencies(services: readonly Service[]): { service: Service; error: unknown } | null {
    for (const service of this.#dependencies.startOrder(services)) {
      try {
        this.#startWithDependencies(service);
      } catch (error) {
        return { service, error };
      }
    }
    return null;
  }

  /**
   * Spawns the first instances of new services BATCH_CHUNK at a time: a chunk's clones run
   * together (spawnMany), and the event loop gets a turn between chunks, so a batch of a
   * thousand does not hold every other request up for its whole length. Stops at the first
   * failure, a shutdown, or a service removed meanwhile by another request, and returns why.
   */
  async #startInChunks(services: readonly Service[]): Promise<{ service: Service; error: unknown } | null> {
    for (let start = 0; start < services.length; start += BATCH_CHUNK) {
      const chunk = services.slice(start, start + BATCH_CHUNK);
      if (start > 0) {
        await new Promise((resolve) => setImmediate(resolve));
        if (this.#shuttingDown) return { service: chunk[0]!, error: new SupervisorError('SHUTTING_DOWN', 'the daemon is shutting down') };
        const removed = chunk.find((service) => this.#services.get(service.id) !== service);
        if (removed !== undefined) return { service: removed, error: new SupervisorError('SERVICE_NOT_FOUND', `service ${removed.id} was removed before it started`, { ref: removed.id }) };
      }
      const prepared = chunk.map((service) => service.prepareFirstSpawn());
      const outcomes = spawnEach(prepared.map((p) => (p instanceof Error ? p : p.options)));
      let failure: { service: Service; error: unknown } | null = null;
      chunk.forEach((service, i) => {
        const attempt = prepared[i]!;
        try {
          if (attempt instanceof Error) service.startPrepared({ prepared: attempt, outcome: attempt });
          else service.startPrepared({ prepared: attempt, outcome: outcomes[i]! });
        } catch (error) {
          failure ??= { service, error };
        }
      });
      if (failure !== null) return failure;
    }
    return null;
  }

  /**
   * Re-creates, under its id, a service a daemon that died had (daemon/take-over.ts restores
   * its instance and state next). No 'created' event: the service is not new. Throws
   * INVALID_SPEC (or another definition error) and NAME_TAKEN as launch does.
   */
  restoreService(id: string, spec: unknown, origin: 'api' | 'config'): Service {
    const definition = defineService(spec, this.#context);
    if (definition.name !== null && this.#byName.has(definition.name)) {
      throw new SupervisorError('NAME_TAKEN', `a service named ${JSON.stringify(definition.name)} exists`, { name: definition.name });
    }
    return this.#create(definition, origin, id);
  }

  #create(definition: ServiceDefinition, origin: 'api' | 'config', restoredId?: string): Service {
    const id = restoredId ?? newServiceId();
    const label = definition.name ?? id;
    const logger = this.#logger.child({ service: label, id });
    const service = new Service(id, definition, origin, {
      events: this.events,
      logger,
      // Also for other kill modes: a reload may change the mode to cgroup.
      cgroupParent: this.#cgroupRoot,
      logs: this.#captureFor(definition, id, logger),
      dependencies: (s) => this.#dependencies.states(s),
      gate: (s) => this.#dependencies.gate(s),
      notifyDir: this.#notifyDir,
      inheritedEnvironment: this.#inheritedEnvironment,
    });
    this.#services.set(id, service);
    if (restoredId !== undefined) this.#restored.add(service);
    if (definition.name !== null) this.#byName.set(definition.name, service);
    this.#dependencies.invalidate();
    if (restoredId === undefined) this.events.append({ type: 'created', service: service.eventRef });
    return service;
  }

  /** Starts the service, after the dependencies it needs (see #startWithDependencies). */
  async start(ref: string): Promise<ServiceInfo> {
    const service = this.#find(ref);
    this.#startWithDependencies(service);
    return service.info();
  }

  /**
   * Stops the service; first, the dependents that follow it (`restart: propagate`). With
   * `instance`, only if that is still the current one: checked before any dependent stops.
   */
  async stop(ref: string, timeoutMs?: number, options: { instance?: string } = {}): Promise<ServiceInfo> {
    const service = this.#find(ref);
    if (options.instance !== undefined) service.expectInstance(options.instance, 'stopped');
    await this.#stopWithFollowers(service, (s) => s.stop(timeoutMs, options.instance));
    return service.info();
  }

  /**
   * Restarts the service (after starting the dependencies it needs). The dependents that
   * follow it (`restart: propagate`) are stopped first and started again after, each
   * through its gate: they wait until the service meets their condition again. With
   * `instance`, only if that is still the current one: checked before anything stops.
   */
  async restart(ref: string, timeoutMs?: number, options: { instance?: string } = {}): Promise<ServiceInfo> {
    const service = this.#find(ref);
    if (options.instance !== undefined) service.expectInstance(options.instance, 'restarted');
    const needed = this.#dependencies.needed(service); // refuses before anything stops
    const followers = this.#dependencies.followers(service);
    // Without followers the restart is asked at once, in this turn: a removal asked right
    // after it still finds the restart begun, and wins over it (as without dependencies).
    if (followers.length > 0) await this.#dependencies.stopInOrder(followers, (s) => s.stop());
    for (const dependency of needed) {
      try {
        dependency.start();
      } catch (error) {
        ignoreLostRace(error);
      }
    }
    try {
      await service.restart(timeoutMs, options.instance);
    } finally {
      this.#startFollowers(followers);
    }
    return service.info();
  }

  /**
   * Starts again, each through its gate, the followers a propagated stop stopped. One that a
   * concurrent request started, stopped or removed meanwhile is left to that request.
   */
  #startFollowers(followers: readonly Service[]): void {
    for (const follower of this.#dependencies.startOrder(followers)) {
      try {
        follower.start();
      } catch (error) {
        if (!(error instanceof SupervisorError && FOLLOWER_RACES.has(error.code))) throw error;
      }
    }
  }

  /** Runs `stop` on the service once its followers (`restart: propagate`, transitively) have stopped, dependents first. */
  async #stopWithFollowers(service: Service, stop: (service: Service) => Promise<void>): Promise<void> {
    const followers = this.#dependencies.followers(service);
    if (followers.length === 0) return stop(service);
    const results = await this.#dependencies.stopInOrder([...followers, service], (s) => (s === service ? stop(s) : s.stop()));
    const own = results[followers.length]!;
    if (own.status === 'rejected') throw own.reason;
  }

  /** Every service with its state, and every dependsOn edge with whether it holds and why not. */
  graph(): DependencyGraph {
    return this.#dependencies.graph();
  }

  signal(ref: string, signal: SignalLike, options: { instance?: string; processGroup?: boolean } = {}): { pid: number; instance: string; signal: number } {
    const service = this.#find(ref);
    let number: number;
    try {
      number = signalNumber(signal);
    } catch (error) {
      throw new SupervisorError('INVALID_SPEC', (error as Error).message, { problems: [{ path: '/signal', message: (error as Error).message }] });
    }
    return { ...service.signal(number, options), signal: number };
  }

  wait(ref: string): Promise<ExitRecord | null> {
    return this.#find(ref).wait();
  }

  /**
   * Stops the service (its whole tree) and forgets it, with its log files and cgroup. Its
   * followers (`restart: propagate`) are stopped first; other dependents are left as they
   * are (a parked one is then blocked, naming it).
   */
  async remove(ref: string, timeoutMs?: number): Promise<ServiceInfo> {
    const service = this.#find(ref);
    let info: ServiceInfo | undefined;
    await this.#stopWithFollowers(service, async (s) => {
      info = await this.#remove(s, { keepLogs: false, timeoutMs });
    });
    return info!;
  }

  /**
   * Applies a config: services are matched by name among those that came from a config.
   * Every entry is defined first: a config with any problem (or whose name is taken by a
   * service launched through the API) is refused whole with CONFIG_INVALID (`entryProblems`
   * names each entry and field) and changes nothing. Then removed services are stopped and
   * forgotten, added ones created (and started unless autostart is false), and changed ones
   * redefined in place (see #redefine). Applications run one after the other.
   */
  applyConfig(services: Record<string, ServiceSpec>): Promise<ConfigChanges> {
    const applied = this.#configQueue.then(() => this.#applyConfig(services));
    this.#configQueue = applied.catch(() => {});
    return applied;
  }

  async #applyConfig(services: Record<string, ServiceSpec>): Promise<ConfigChanges> {
    if (this.#shuttingDown) throw new SupervisorError('SHUTTING_DOWN', 'the daemon is shutting down');
    const { definitions, problems } = defineEntries(services, this.#context);
    for (const name of Object.keys(services)) {
      const holder = this.#byName.get(name);
      if (holder !== undefined && holder.origin !== 'config') {
        problems.push({ service: name, field: '', message: `the name is taken by a process launched through the API (id ${holder.id}); remove it or rename the entry` });
      }
    }
    if (problems.length > 0) throw entriesRefused(problems);

    // From here on nothing waits until every change is under way: no request can slip in
    // between the checks above and the services they allow.
    const removed = [...this.#services.values()].filter((s) => s.origin === 'config' && (s.name === null || !definitions.has(s.name)));
    const changes: ConfigChanges = { added: [], changed: [], removed: removed.map((s) => s.name ?? s.id), unchanged: [] };
    // Dependents first, as at shutdown.
    const work: Array<Promise<unknown>> = [this.#dependencies.stopInOrder(removed, (s) => this.remove(s.id).catch(ignoreNotFound))];
    const added: Service[] = [];
    for (const [name, definition] of definitions) {
      const existing = this.#byName.get(name);
      if (existing === undefined) {
        changes.added.push(name);
        added.push(this.#create(definition, 'config'));
        continue;
      }
      const fields = changedFields(existing.definition.spec, definition.spec);
      if (fields.length === 0) {
        changes.unchanged.push(name);
      } else {
        changes.changed.push({ name, fields });
        work.push(this.#redefine(existing, definition, fields));
      }
    }
    // Once all exist, dependencies first: a dependent never sees its dependency missing.
    for (const service of this.#dependencies.startOrder(added)) work.push(this.#startConfigService(service));
    await Promise.all(work);
    return changes;
  }

  /**
   * A changed config entry, applied in place: the same service (id, exit history, restart
   * count, logs) with the new definition, and a `reloaded` event naming the changed fields.
   * A service with an instance (or backing off) is stopped under its old definition (its
   * stop signal and timeout) and started under the new one; one that exited or failed is
   * started when autostart (the usual fix-the-file-and-reload); a stopped one stays stopped.
   */
  async #redefine(service: Service, definition: ServiceDefinition, fields: string[]): Promise<void> {
    const active = ACTIVE.has(service.state);
    const parked = service.state === 'waiting' || service.state === 'blocked';
    const start = active || parked || (definition.autostart && (service.state === 'exited' || service.state === 'failed'));
    // A restart by reload is one by request: its followers (restart: propagate) go first, and come back after.
    const followers = active ? this.#dependencies.followers(service) : [];
    if (active) await this.#stopWithFollowers(service, (s) => s.stop());
    try {
      await this.#restartRedefined(service, definition, fields, start);
    } finally {
      if (!this.#shuttingDown) this.#startFollowers(followers);
    }
  }

  async #restartRedefined(service: Service, definition: ServiceDefinition, fields: string[], start: boolean): Promise<void> {
    // Removed meanwhile (a DELETE, a shutdown): it never starts again, so nothing to redefine.
    if (service.state === 'removing' || service.state === 'removed' || this.#services.get(service.id) !== service) return;
    const logs = service.logs === null ? this.#captureFor(definition, service.id, this.#logger.child({ service: service.name ?? service.id, id: service.id })) : null;
    service.redefine(definition, logs);
    this.#dependencies.invalidate();
    this.events.append({ type: 'reloaded', service: service.eventRef, changed: fields });
    if (!start || this.#shuttingDown) return;
    // Started again by a request during the stop: restart it, so it runs the new definition.
    if (ACTIVE.has(service.state) || service.state === 'stopping') await service.restart().catch(ignoreLostRace);
    else await this.#startConfigService(service);
  }

  // A config service whose spawn fails stays, backing off or failed, with the reason; one
  // whose dependency cannot be started is blocked, naming it.
  async #startConfigService(service: Service): Promise<void> {
    if (!service.definition.autostart) return;
    try {
      this.#startWithDependencies(service);
    } catch (error) {
      if (!(error instanceof SupervisorError && error.code === 'DEPENDENCY_UNAVAILABLE')) ignoreSpawnFailure(error);
      else service.start();
    }
  }

  /** The captured output of a service when its definition captures any. */
  #captureFor(definition: ServiceDefinition, id: string, logger: Logger): ServiceLogs | null {
    if (definition.stdout !== 'capture' && definition.stderr !== 'capture') return null;
    const file = logName(definition.name ?? id, id);
    return new ServiceLogs({
      dir: this.#logDir,
      service: file,
      ...this.#logLimits,
      ...reportWriteFailures({ logger, events: this.events, service: { id, name: definition.name }, file: logFilePath(this.#logDir, file) }),
    });
  }

  /**
   * Lets go of every service without stopping any: their processes run on, their pidfds are
   * closed. For a start that failed after taking services over from a dead daemon: they
   * stay for the next one.
   */
  release(): void {
    this.#usage.stop();
    for (const service of this.#services.values()) service.release();
    this.#services.clear();
    this.#byName.clear();
  }

  /** Stops every service in parallel, each with its own timeout, and releases everything. Idempotent. */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stopEverything();
    return this.#shutdown;
  }

  async #stopEverything(): Promise<void> {
    this.#shuttingDown = true;
    this.#usage.stop();
    // The services are not removed by anyone: their log files stay for the next daemon to
    // show. Dependents first: no service sees a dependency stop under it.
    await this.#dependencies.stopInOrder([...this.#services.values()], (service) =>
      this.#remove(service, { keepLogs: true }).catch((error: unknown) => {
        this.#logger.error({ err: error, service: service.name ?? service.id }, 'stop at shutdown failed');
      }),
    );
    const left = this.#cgroupClaim.release(this.#ownsCgroupRoot);
    if (left !== null) this.#logger.warn({ err: left, cgroupRoot: this.#cgroupRoot }, 'cgroup root left in place');
  }

  #find(ref: string): Service {
    const service = this.#services.get(ref) ?? this.#byName.get(ref);
    if (service === undefined) throw new SupervisorError('SERVICE_NOT_FOUND', `no service ${JSON.stringify(ref)}`, { ref });
    return service;
  }

  /**
   * Removes the service through its state machine (its tree stopped, nothing started again
   * by a request that raced this one), then forgets it. The service stays listed, `removing`,
   * until its tree is gone: every child the daemon made belongs to a listed service.
   */
  async #remove(service: Service, options: { keepLogs: boolean; timeoutMs?: number | undefined }): Promise<ServiceInfo> {
    await service.remove(options.timeoutMs);
    await this.#forget(service, options.keepLogs);
    return service.info();
  }

  async #forget(service: Service, keepLogs: boolean): Promise<void> {
    // Two removals of one service may overlap (two DELETEs, a DELETE during shutdown): the
    // first forgets it, the second has nothing left to do.
    if (this.#services.get(service.id) !== service) return;
    this.#services.delete(service.id);
    if (service.name !== null && this.#byName.get(service.name) === service) this.#byName.delete(service.name);
    this.#dependencies.invalidate();
    const left = await disposeResources(service);
    if (left !== null) this.#logger.warn({ err: left, service: service.name ?? service.id }, 'cgroup left in place');
    if (service.logs !== null && !keepLogs) await this.#removeLogFiles(service);
    this.events.append({ type: 'removed', service: service.eventRef });
  }

  // "Forget it, with its logs": a removed service's files would otherwise pile up for ever,
  // since nothing can name them again. Logs of services still defined survive a shutdown.
  async #removeLogFiles(service: Service): Promise<void> {
    // Files are named after the service's id, which this daemon drew at random: unless the
    // service was restored, only its own writer can have made any, and one that never wrote
    // (or failed to) made none. Listing the directory anyway was a readdir in the threadpool
    // on every removal of a silent process (a launch+wait+delete of `true`).
    const stats = service.logs!.stats();
    if (!this.#restored.has(service) && stats.writtenBytes === 0 && stats.droppedRecords === 0 && stats.rotations === 0) return;
    for (const file of await listLogFiles(this.#logDir, logName(service.name ?? service.id, service.id))) {
      try {
        await fs.promises.unlink(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.#logger.warn({ err: error, file }, 'log file of a removed service left in place');
      }
    }
  }
}

// Service ids: 6 random bytes in hex, taken from a block filled by one call to the CSPRNG
// instead of a randomBytes(6) (a Buffer and a call into C++) per launch.
const ID_BYTES = 6;
const idPool = Buffer.alloc(ID_BYTES * 256);
let idPoolAt = idPool.length;

function newServiceId(): string {
  if (idPoolAt + ID_BYTES > idPool.length) {
    randomFillSync(idPool);
    idPoolAt = 0;
  }
  const id = idPool.toString('hex', idPoolAt, idPoolAt + ID_BYTES);
  idPoolAt += ID_BYTES;
  return id;
}

/** The name of a service's log files: its label, then its id, so a reused name is another file. */
function logName(label: string, id: string): string {
  return `${label}.${id}`;
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof SupervisorError && error.code === 'SERVICE_NOT_FOUND')) throw error;
}

function ignoreSpawnFailure(error: unknown): void {
  if (!(error instanceof SupervisorError && error.code === 'SPAWN_FAILED')) throw error;
}

// A restart by a reload that a removal overtook, or whose spawn failed (the service then
// backs off with the reason): neither is the reload's failure.
function ignoreLostRace(error: unknown): void {
  if (!(error instanceof SupervisorError && (error.code === 'SPAWN_FAILED' || error.code === 'SERVICE_NOT_FOUND'))) throw error;
}

/** What a follower's start may meet when another request acted on it meanwhile (or its spawn failed: it backs off). */
const FOLLOWER_RACES: ReadonlySet<string> = new Set(['SPAWN_FAILED', 'SERVICE_NOT_FOUND', 'ALREADY_RUNNING', 'STOPPING', 'REMOVING']);

/** Services whose first spawns are cloned together; the event loop runs between chunks. */
const BATCH_CHUNK = 64;

// The children of a batch, spawned together (spawnMany clones on several threads); an entry
// that is already an Error stays one.
function spawnEach(list: ReadonlyArray<SpawnOptions | Error>): Array<ChildProcess | Error> {
  const wanted = list.filter((entry): entry is SpawnOptions => !(entry instanceof Error));
  const spawned = spawnMany(wanted);
  let next = 0;
  return list.map((entry) => (entry instanceof Error ? entry : spawned[next++]!));
}

/** The error of one entry of a batch, with its position added to the details clients get. */
function withIndex(error: unknown, index: number): unknown {
  if (!(error instanceof SupervisorError)) return error;
  return new SupervisorError(error.code, `entry ${index}: ${error.message}`, { ...error.details, index }, error.cause ?? error);
}

// Output still in the pipes after the last process exited is read before the logs close;
// a descendant that keeps a pipe open must not hold the removal up for long.
const LOG_DRAIN_MS = 2000;

/** Closes the service's logs and removes its cgroup; returns why the cgroup stays, if it does. */
async function disposeResources(service: Service): Promise<Error | null> {
  const logs = service.logs;
  if (logs !== null) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([logs.ended(), new Promise((resolve) => (timer = setTimeout(resolve, LOG_DRAIN_MS)))]);
    clearTimeout(timer);
    await logs.close();
  }
  return service.cgroup?.tryRemove() ?? null;
}

/**
 * Waits until the service's instance is ready; throws NOT_READY with the reason it will not
 * be (it ended, gave up, or was stopped), or when `timeoutMs` passes first. The service stays
 * either way: its restart policy goes on as without the wait.
 */
async function awaitReady(service: Service, timeoutMs: number | null): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<null>((resolve) => {
    if (timeoutMs !== null) timer = setTimeout(() => resolve(null), timeoutMs);
  });
  const outcome = await Promise.race([service.waitReady(), timedOut]).finally(() => clearTimeout(timer));
  if (outcome?.ready === true) return;
  const label = service.name ?? service.id;
  const info = service.info();
  const reason = outcome === null ? `not ready within ${timeoutMs} ms (${info.state}: ${info.reason})` : outcome.reason;
  throw new SupervisorError('NOT_READY', `service ${label} did not become ready: ${reason}`, { id: service.id, state: info.state, timedOut: outcome === null });
}
