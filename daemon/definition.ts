// A validated service spec turned into everything needed to run it, defaults filled in.
import { inheritedEnv, signalName, signalNumber, type Rlimit, type RlimitName } from '../native/index.js';
import type { Dependency } from './dependencies.js';
import { SupervisorError } from './errors.js';
import { defineProbe, type ProbeDefinition } from './probes/probe-spec.js';
import { DEFAULT_RESTART_POLICY, type RestartPolicy } from './restart-policy.js';
import { serviceSpecProblems } from './spec-check.js';
import type { ServiceSpec } from './spec.js';
import { resolveCredentials, type Credentials } from './users.js';

export type KillMode = 'process' | 'group' | 'cgroup';

export interface ServiceDefinition {
  /** The spec as given: what GET shows and what a config reload compares (spec-diff.ts). */
  spec: ServiceSpec;
  name: string | null;
  command: string[];
  /** The whole environment of the service; null: the daemon's own, inherited as it is. */
  env: Record<string, string> | null;
  cwd: string | undefined;
  credentials: Credentials | null;
  umask: number | undefined;
  rlimits: Partial<Record<RlimitName, Rlimit>>;
  stdin: 'null' | 'inherit';
  stdout: 'capture' | 'inherit' | 'null';
  stderr: 'capture' | 'inherit' | 'null';
  restart: RestartPolicy;
  startGraceMs: number;
  stopSignal: number;
  stopSignalName: string;
  stopTimeoutMs: number;
  killMode: KillMode;
  labels: Record<string, string>;
  autostart: boolean;
  /** dependsOn, in the order given, defaults filled in. */
  dependsOn: Dependency[];
  /** null: ready after startGraceMs (or at READY=1 with notify). */
  readiness: ProbeDefinition | null;
  liveness: ProbeDefinition | null;
  /** The instance gets NOTIFY_SOCKET (sd_notify). */
  notify: boolean;
  /** sd_notify watchdog period; null: none. */
  watchdogMs: number | null;
}

export interface DefinitionContext {
  /** Kill mode when the spec names none: cgroup where usable, else group. */
  defaultKillMode: KillMode;
  /** Why cgroup mode is unavailable, or null when it is usable. */
  cgroupUnavailable: string | null;
  /**
   * The base of a service's environment unless clearEnv; null: the daemon's own (which the
   * daemon never changes once started).
   */
  baseEnv: Readonly<Record<string, string>> | null;
}

export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
export const DEFAULT_START_GRACE_MS = 1000;

/** Validates `input` (untrusted JSON or YAML) and builds the definition; throws INVALID_SPEC. */
export function defineService(input: unknown, context: DefinitionContext): ServiceDefinition {
  const problems = serviceSpecProblems(input);
  if (problems.length > 0) {
    throw new SupervisorError('INVALID_SPEC', `invalid service: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { problems });
  }
  const spec = input as ServiceSpec;
  if (spec.command[0] === '') {
    // The schema lets later arguments be empty (`sh -c ''`), but never the program itself.
    throw new SupervisorError('INVALID_SPEC', 'invalid service: /command/0: the program (argv[0]) is empty', {
      problems: [{ path: '/command/0', message: 'must not be empty' }],
    });
  }
  let stopSignal: number;
  try {
    stopSignal = signalNumber((spec.stopSignal ?? 'SIGTERM') as never);
  } catch (error) {
    throw new SupervisorError('INVALID_SPEC', `invalid service: /stopSignal: ${(error as Error).message}`, {
      problems: [{ path: '/stopSignal', message: (error as Error).message }],
    });
  }
  const killMode = spec.killMode ?? context.defaultKillMode;
  if (killMode === 'cgroup' && context.cgroupUnavailable !== null) {
    throw new SupervisorError('CGROUP_UNAVAILABLE', `killMode cgroup is unavailable: ${context.cgroupUnavailable}`);
  }
  const restart = { ...DEFAULT_RESTART_POLICY, ...spec.restart };
  if (restart.maxDelayMs < restart.initialDelayMs) {
    throw new SupervisorError('INVALID_SPEC', 'invalid service: /restart: maxDelayMs is below initialDelayMs', {
      problems: [{ path: '/restart/maxDelayMs', message: 'must be at least initialDelayMs' }],
    });
  }
  const capturing = { stdout: (spec.stdout ?? 'capture') === 'capture', stderr: (spec.stderr ?? 'capture') === 'capture' };
  const readiness = spec.readiness === undefined ? null : defineProbe(spec.readiness, 'readiness', capturing);
  const liveness = spec.liveness === undefined ? null : defineProbe(spec.liveness, 'liveness', capturing);
  // A notify readiness probe is sd_notify's READY=1: it needs the socket.
  const notify = spec.notify === true || readiness?.check.kind === 'notify';
  if (spec.watchdogMs !== undefined && !notify) {
    throw new SupervisorError('INVALID_SPEC', 'invalid service: /watchdogMs: the watchdog is kept through sd_notify: set notify to true', {
      problems: [{ path: '/watchdogMs', message: 'needs notify: true' }],
    });
  }
  return {
    spec,
    name: spec.name ?? null,
    command: [...spec.command],
    env: serviceEnv(spec, context.baseEnv),
    cwd: spec.cwd,
    credentials: resolveCredentials(spec.user, spec.group),
    umask: spec.umask,
    rlimits: (spec.rlimits ?? {}) as Partial<Record<RlimitName, Rlimit>>,
    stdin: spec.stdin ?? 'null',
    stdout: spec.stdout ?? 'capture',
    stderr: spec.stderr ?? 'capture',
    restart,
    startGraceMs: spec.startGraceMs ?? DEFAULT_START_GRACE_MS,
    stopSignal,
    stopSignalName: signalName(stopSignal),
    stopTimeoutMs: spec.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
    killMode,
    labels: { ...spec.labels },
    autostart: spec.autostart ?? true,
    dependsOn: Object.entries(spec.dependsOn ?? {}).map(([name, dependency]) => ({ name, condition: dependency.condition, restart: dependency.restart ?? 'none' })),
    readiness,
    liveness,
    notify,
    watchdogMs: spec.watchdogMs ?? null,
  };
}

// A service that adds nothing to the daemon's environment gets it by inheritance, in the
// child, with no copy: copying some 35 variables into a record, then into "NAME=value"
// strings, then into C strings cost more per launch than routing and validating the request.
function serviceEnv(spec: ServiceSpec, base: Readonly<Record<string, string>> | null): Record<string, string> | null {
  if (spec.clearEnv === true) return { ...spec.env };
  const adds = spec.env !== undefined && Object.keys(spec.env).length > 0;
  if (base === null) return adds ? { ...inheritedEnv(), ...spec.env } : null;
  return { ...base, ...spec.env };
}
