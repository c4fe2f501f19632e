// Whether a service's dependencies meet their conditions, from what each dependency is
// now: the gate every spawn goes through (service.ts), and what the API and CLI show about
// why a service waits. One function reads each condition, so the start gate, the graph and
// the pull of a manual start can never disagree.
import type { ExitRecord } from './service.js';
import type { State } from './state-machine.js';
import type { DependencyCondition } from './spec.js';

/** One entry of a definition's dependsOn. */
export interface Dependency {
  name: string;
  condition: DependencyCondition;
  restart: 'none' | 'propagate';
}

/**
 * met: the condition holds now. waiting: not yet, but it may without anyone acting (the
 * dependency is starting, backing off, waiting itself). blocked: not until someone acts (it
 * failed, exited, was stopped or removed, or is blocked itself).
 */
export type DependencyStatus = 'met' | 'waiting' | 'blocked';

/** What the gate needs to know of a dependency (a Service has it all). */
export interface DependencyView {
  readonly state: State;
  readonly exits: readonly ExitRecord[];
  readonly reason: string;
  readonly definition: { readonly spec: object };
}

export interface DependencyState extends Dependency {
  status: DependencyStatus;
  /** Why, in words: "db is starting (...)"; "" when met. */
  reason: string;
}

/** The outcome of the gate for a whole service. */
export interface Gate {
  status: DependencyStatus;
  /** For waiting or blocked: which dependencies and why; "" when met. */
  reason: string;
}

/** The status of one dependency; `target` undefined: no service has that name. */
export function dependencyState(dependency: Dependency, target: DependencyView | undefined): DependencyState {
  const [status, reason] = target === undefined ? (['blocked', `there is no service named ${dependency.name}`] as const) : evaluate(dependency, target);
  return { ...dependency, status, reason };
}

/** The gate over every dependency: blocked if one is blocked, else waiting if one waits, else met. */
export function gateOf(states: readonly DependencyState[]): Gate {
  const describe = (list: DependencyState[]): string => list.map((d) => `${d.name} (${d.condition}): ${d.reason}`).join('; ');
  const blocked = states.filter((d) => d.status === 'blocked');
  if (blocked.length > 0) return { status: 'blocked', reason: `blocked by ${describe(blocked)}` };
  const waiting = states.filter((d) => d.status === 'waiting');
  if (waiting.length > 0) return { status: 'waiting', reason: `waiting for ${describe(waiting)}` };
  return { status: 'met', reason: '' };
}

/**
 * The liveness verdict of a service's current instance. The `probes` work adds a public
 * `health` getter to Service; until it is there every service reads as 'unknown', which the
 * `healthy` condition treats as healthy only for a service with no liveness probe.
 */
export function healthOf(target: DependencyView): 'unknown' | 'healthy' | 'unhealthy' {
  const health = (target as { health?: unknown }).health;
  return health === 'healthy' || health === 'unhealthy' ? health : 'unknown';
}

type Verdict = readonly [DependencyStatus, string];

function evaluate(dependency: Dependency, target: DependencyView): Verdict {
  const { name } = dependency;
  const state = target.state;
  const as = (status: DependencyStatus, why?: string): Verdict => [status, why ?? `${name} is ${state} (${target.reason})`];
  if (state === 'removing' || state === 'removed') return as('blocked', `${name} is being removed`);
  switch (dependency.condition) {
    case 'started':
      return state === 'starting' || state === 'running' ? as('met', '') : notUp(target, as);
    case 'ready':
      if (state === 'running') return as('met', '');
      return state === 'starting' ? as('waiting') : notUp(target, as);
    case 'healthy': {
      if (state === 'starting') return as('waiting');
      if (state !== 'running') return notUp(target, as);
      const health = healthOf(target);
      const probed = (target.definition.spec as { liveness?: unknown }).liveness !== undefined;
      if (health === 'healthy' || (health === 'unknown' && !probed)) return as('met', '');
      return as('waiting', `${name} is running, and its liveness probe says ${health === 'unknown' ? 'nothing yet' : health}`);
    }
    case 'completed':
    case 'completedSuccessfully':
      return completion(dependency.condition === 'completedSuccessfully', target, as);
  }
}

// For started, ready and healthy: a dependency with no instance.
function notUp(target: DependencyView, as: (status: DependencyStatus, why?: string) => Verdict): Verdict {
  switch (target.state) {
    case 'backoff':
    case 'waiting':
    case 'stopping': // a restart in progress; a plain stop ends in stopped, which blocks
    case 'starting':
      return as('waiting');
    default:
      return as('blocked');
  }
}

// States with no instance in which the last exit is the latest word on the service.
const AT_REST: ReadonlySet<State> = new Set(['exited', 'failed', 'backoff', 'stopped']);

function completion(successfully: boolean, target: DependencyView, as: (status: DependencyStatus, why?: string) => Verdict): Verdict {
  const last = target.exits.at(-1);
  if (AT_REST.has(target.state) && last !== undefined && last.reason === 'exited' && (!successfully || last.code === 0)) return as('met', '');
  // It runs, or will run again by itself: it may still complete (successfully).
  if (target.state === 'starting' || target.state === 'running' || target.state === 'stopping' || target.state === 'backoff' || target.state === 'waiting') return as('waiting');
  return as('blocked');
}
