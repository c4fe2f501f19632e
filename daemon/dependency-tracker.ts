// The supervisor's side of dependencies: the gate of each service against the services the
// supervisor has now, a parked service woken when one of its dependencies changes, the
// dependencies a start must start first, the dependents a stop must stop first, and the
// graph the API shows.
//
// Waking is driven by the event log: every change of a service (state, exit, health,
// created, removed, reloaded) is an event, so a condition that reads any of them is seen
// again. The wake-ups run in a microtask, not inside the listener: a spawn there would
// append its own events while the log is still handing the first one to its listeners,
// and a later listener (an SSE stream, the state journal) would see them out of order.
import type { Logger } from 'pino';
import { dependencyState, gateOf, type DependencyState, type Gate } from './dependencies.js';
import { graphProblems, startLayers, type DependencyMap, type GraphProblem } from './dependency-graph.js';
import { SupervisorError } from './errors.js';
import type { EventLog, SupervisorEvent } from './events.js';
import type { Service } from './service.js';
import type { State } from './state-machine.js';

export interface GraphNode {
  id: string;
  name: string | null;
  state: State;
  reason: string;
}

export interface GraphEdge extends DependencyState {
  /** The dependent: its name, or its id when it has none. */
  from: string;
}

export interface DependencyGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Named services in start order: each layer needs only earlier ones and starts in parallel. */
  startOrder: string[][];
}

/** States in which a service wants to run: what a propagated restart starts again. */
const WANTS_TO_RUN: ReadonlySet<State> = new Set(['starting', 'running', 'backoff', 'waiting', 'blocked']);
/** States from which a start by request spawns (or parks): what a start may pull. */
const AT_REST: ReadonlySet<State> = new Set(['stopped', 'exited', 'failed']);

export class DependencyTracker {
  readonly #services: () => Iterable<Service>;
  readonly #byName: (name: string) => Service | undefined;
  readonly #byId: (id: string) => Service | undefined;
  readonly #logger: Logger;
  /** dependency name -> ids of the services that name it; rebuilt after a service comes, goes or is redefined. */
  #dependents: Map<string, Set<string>> | null = null;
  #pending = new Set<string>();
  /** Names whose dependents the next wake-up looks up (in the index as it is then). */
  #pendingNames = new Set<string>();
  #scheduled = false;

  constructor(options: {
    services: () => Iterable<Service>;
    byName: (name: string) => Service | undefined;
    byId: (id: string) => Service | undefined;
    events: EventLog;
    logger: Logger;
  }) {
    this.#services = options.services;
    this.#byName = options.byName;
    this.#byId = options.byId;
    this.#logger = options.logger;
    options.events.subscribe(options.events.lastSeq, (event) => this.#onEvent(event));
  }

  /** Each dependency of `service` with its status now. */
  states(service: Service): DependencyState[] {
    return service.definition.dependsOn.map((dependency) => dependencyState(dependency, this.#byName(dependency.name)));
  }

  gate(service: Service): Gate {
    return gateOf(this.states(service));
  }

  /** A service came, went or was redefined: who depends on whom must be read again. */
  invalidate(): void {
    this.#dependents = null;
  }

  /**
   * The problems of new specs against the services there are: names that exist nowhere
   * (neither among the services nor among `added`) and cycles through an added service.
   * `added`: name (or a key for an unnamed one) -> its dependency names.
   */
  problems(added: DependencyMap): GraphProblem[] {
    const graph = new Map<string, readonly string[]>();
    for (const service of this.#services()) {
      if (service.name !== null && service.state !== 'removed') graph.set(service.name, service.definition.dependsOn.map((d) => d.name));
    }
    for (const [name, dependencies] of added) graph.set(name, dependencies);
    return graphProblems(graph, (name) => graph.has(name), added.keys());
  }

  /** The services that name `service` in their dependsOn. */
  dependentsOf(service: Service): Service[] {
    if (service.name === null) return [];
    return [...(this.#index().get(service.name) ?? [])].flatMap((id) => this.#byId(id) ?? []);
  }

  #index(): Map<string, Set<string>> {
    if (this.#dependents !== null) return this.#dependents;
    const index = new Map<string, Set<string>>();
    for (const service of this.#services()) {
      for (const { name } of service.definition.dependsOn) {
        let ids = index.get(name);
        if (ids === undefined) index.set(name, (ids = new Set()));
        ids.add(service.id);
      }
    }
    this.#dependents = index;
    return index;
  }

  /**
   * What must be started before `service` can: every dependency whose condition does not
   * hold and which is at rest (stopped, exited, failed), and theirs in turn, dependencies
   * first. A dependency that cannot be started (missing, or being removed) refuses the
   * start with DEPENDENCY_UNAVAILABLE, naming it; nothing has been started then.
   */
  needed(service: Service): Service[] {
    const order: Service[] = [];
    const seen = new Set<Service>([service]);
    const visit = (dependent: Service): void => {
      for (const state of this.states(dependent)) {
        if (state.status === 'met') continue;
        const dependency = this.#byName(state.name);
        if (dependency === undefined || dependency.state === 'removing' || dependency.state === 'removed') {
          throw new SupervisorError('DEPENDENCY_UNAVAILABLE', `${dependent.name ?? dependent.id} needs ${state.name} (${state.condition}), which cannot be started: ${state.reason}`, {
            service: dependent.name ?? dependent.id,
            dependency: state.name,
            condition: state.condition,
          });
        }
        if (seen.has(dependency)) continue;
        seen.add(dependency);
        visit(dependency);
        if (AT_REST.has(dependency.state)) order.push(dependency);
      }
    };
    visit(service);
    return order;
  }

  /**
   * The services a stop or restart of `service` by request reaches through
   * `restart: propagate` edges, transitively (systemd PartOf=), that want to run.
   */
  followers(service: Service): Service[] {
    const found = new Set<Service>();
    const visit = (dependency: Service): void => {
      if (dependency.name === null) return;
      for (const dependent of this.dependentsOf(dependency)) {
        const edge = dependent.definition.dependsOn.find((d) => d.name === dependency.name);
        if (edge?.restart !== 'propagate' || found.has(dependent) || !WANTS_TO_RUN.has(dependent.state)) continue;
        found.add(dependent);
        visit(dependent);
      }
    };
    visit(service);
    return [...found];
  }

  /**
   * Runs `stop` on every service of `services`, each once all of its dependents among them
   * have been stopped: dependents first, independent services in parallel. A stop that
   * fails does not hold its dependencies' stops back (they are stopped all the same).
   */
  async stopInOrder<T>(services: readonly Service[], stop: (service: Service) => Promise<T>): Promise<Array<PromiseSettledResult<T>>> {
    const among = new Set(services);
    const stops = new Map<Service, Promise<T>>();
    const stopAfterDependents = (service: Service, path: ReadonlySet<Service>): Promise<T> => {
      const known = stops.get(service);
      if (known !== undefined) return known;
      // A cycle cannot be defined (it is refused), but a stop must end even if one were there.
      const dependents = this.dependentsOf(service).filter((d) => among.has(d) && !path.has(d));
      const inner = new Set(path).add(service);
      const stopped = Promise.allSettled(dependents.map((d) => stopAfterDependents(d, inner))).then(() => stop(service));
      stops.set(service, stopped);
      return stopped;
    };
    return Promise.allSettled(services.map((service) => stopAfterDependents(service, new Set())));
  }

  /** The services, in an order where each comes after its dependencies among them. */
  startOrder(services: readonly Service[]): Service[] {
    const byKey = new Map(services.map((service) => [service.name ?? service.id, service]));
    const graph = new Map([...byKey].map(([key, service]) => [key, service.definition.dependsOn.map((d) => d.name)]));
    return startLayers(graph).flat().map((key) => byKey.get(key)!);
  }

  graph(): DependencyGraph {
    const services = [...this.#services()];
    const nodes = services.map((service) => ({ id: service.id, name: service.name, state: service.state, reason: service.reason }));
    const edges = services.flatMap((service) => this.states(service).map((state) => ({ from: service.name ?? service.id, ...state })));
    const named = new Map(services.filter((s) => s.name !== null).map((s) => [s.name!, s.definition.dependsOn.map((d) => d.name)]));
    return { nodes, edges, startOrder: startLayers(named) };
  }

  #onEvent(event: SupervisorEvent): void {
    // The service itself (a reload may have changed its dependsOn), and whoever names it:
    // looked up at the wake-up, so that a burst of creations and events (a take-over of 1,000
    // services, a batch launch) rebuilds the index once, not once per event.
    this.#pending.add(event.service.id);
    if (event.service.name !== null) this.#pendingNames.add(event.service.name);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#wake());
  }

  #wake(): void {
    this.#scheduled = false;
    const ids = this.#pending;
    this.#pending = new Set();
    for (const name of this.#pendingNames) for (const id of this.#index().get(name) ?? []) ids.add(id);
    this.#pendingNames = new Set();
    for (const id of ids) {
      const service = this.#byId(id);
      if (service === undefined || (service.state !== 'waiting' && service.state !== 'blocked')) continue;
      try {
        service.wake();
      } catch (error) {
        // A failed spawn is recorded, and the service backs off or fails by its policy.
        if (!(error instanceof SupervisorError && error.code === 'SPAWN_FAILED')) this.#logger.error({ err: error, service: service.name ?? service.id }, 'starting after its dependencies failed');
      }
    }
  }
}
