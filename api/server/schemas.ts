// TypeBox schemas of every request and response of the API. Requests are validated with
// them (fastify's ajv, configured to reject rather than repair); responses are documented
// with them in the OpenAPI document and checked against them in the tests.
//
// Build time only: the daemon loads them as plain JSON Schema objects from
// schemas.generated.ts (tools/generate-schemas.ts, run by the build), and imports this module
// only for its types (`import type`), so that it never loads TypeBox (RSS, issue 14).
//
// Every object is closed (additionalProperties: false), except header objects: a request
// carries many standard headers besides the ones a route reads.
import { Type, type Static, type TLiteral, type TSchema } from '@sinclair/typebox';
import { DEPENDENCY_CONDITIONS, NAME_PATTERN, ServiceSpec, SignalSpec } from '../../daemon/spec.js';
import { STATES } from '../../daemon/state-machine.js';
import { ERROR_CODES } from './errors.js';

const strict = { additionalProperties: false } as const;
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Literals = <const T extends readonly string[]>(values: T, options: { description?: string } = {}) =>
  Type.Union(values.map((value) => Type.Literal(value)) as Array<TLiteral<T[number]>>, options);
/** A query value: the query string has only strings, and nothing is coerced. */
const Digits = (maxDigits: number, description: string) => Type.String({ pattern: `^[0-9]{1,${maxDigits}}$`, description });

/**
 * A copy of `schema` in which every map (patternProperties) is closed as well: TypeBox's
 * Record leaves keys that miss the key pattern allowed, so `env: {"A=B": ...}` would pass.
 */
function closeMaps<T extends TSchema>(schema: T): T {
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (node === null || typeof node !== 'object') return node;
    const copy: Record<PropertyKey, unknown> = {};
    for (const key of Reflect.ownKeys(node)) copy[key] = visit((node as Record<PropertyKey, unknown>)[key]);
    if (copy.patternProperties !== undefined && copy.additionalProperties === undefined) copy.additionalProperties = false;
    return copy;
  };
  return visit(schema) as T;
}

// ---- requests ----

/** The launch body: the daemon's ServiceSpec (the same schema as config entries), maps closed. */
export const LaunchBody = closeMaps(ServiceSpec);
export type LaunchBody = Static<typeof LaunchBody>;

/** The $id the launch body is given to ajv under (app.ts), and its component's name in the OpenAPI document. */
export const LAUNCH_BODY_ID = 'ServiceSpec';
/**
 * The launch body where a route validates it: a $ref, so that ajv compiles the schema once
 * for both launch routes (with inlineRefs off, app.ts) and not again inside the batch's
 * validator (~0.5 MiB of generated code and its bytecode, resident in the daemon).
 */
export const LaunchBodyRef = Type.Unsafe<LaunchBody>({ $ref: `${LAUNCH_BODY_ID}#` });

/** The most processes one batch request may launch. */
export const MAX_BATCH = 1000;

export const BatchLaunchBody = Type.Object(
  { processes: Type.Array(LaunchBodyRef, { minItems: 1, maxItems: MAX_BATCH, description: `The specs, each as for a single launch; at most ${MAX_BATCH}.` }) },
  strict,
);
export type BatchLaunchBody = Static<typeof BatchLaunchBody>;

const LabelSelector = Type.String({ pattern: '^[^\\u0000=]{1,63}=[^\\u0000]{0,1024}$', description: '`key=value`: the process has this label.' });
export const RemoveManyQuery = Type.Object(
  {
    label: Type.Optional(Type.Union([LabelSelector, Type.Array(LabelSelector, { minItems: 1, maxItems: 16 })], { description: 'Repeat to require several labels.' })),
    all: Type.Optional(Type.Literal('true', { description: 'Every process; required when no label is given, so an empty selector never means everything by accident.' })),
    timeoutMs: Type.Optional(Digits(7, 'Before SIGKILL; at most 3600000.')),
  },
  strict,
);

export const ProcessParams = Type.Object(
  { id: Type.String({ pattern: NAME_PATTERN, description: 'The process id, or its name.' }) },
  strict,
);

export const LaunchHeaders = Type.Object(
  {
    'idempotency-key': Type.Optional(
      Type.String({
        pattern: '^[\\x21-\\x7e]{1,255}$',
        description: 'Retrying a launch with the same key returns the first result instead of launching again.',
      }),
    ),
  },
  { additionalProperties: true },
);

const InstancePrecondition = (what: string) => Type.String({ pattern: '^[^\\u0000]{1,128}$', description: `${what} only if this instance is still the current one.` });

export const SignalBody = Type.Object(
  {
    signal: SignalSpec,
    instance: Type.Optional(InstancePrecondition('Signal')),
    target: Type.Optional(Literals(['process', 'group'] as const)),
  },
  strict,
);

const TimeoutMs = Type.Integer({ minimum: 0, maximum: 3_600_000, description: 'Before SIGKILL; default: the process stopTimeoutMs.' });

/** Stop and restart: a body is optional (no body, or `null`, means the defaults). */
export const StopBody = Nullable(Type.Object({ timeoutMs: Type.Optional(TimeoutMs), instance: Type.Optional(InstancePrecondition('Act')) }, strict));

export const LaunchQuery = Type.Object(
  {
    wait: Type.Optional(
      Literals(['ready', 'exit'] as const, {
        description:
          '`ready`: answer only once the instance is ready (`running`: its readiness probe passed, sd_notify READY=1, or startGraceMs passed), or 422 NOT_READY with the reason it will not be (it exited, its readiness probe gave up, it was stopped) or with `timedOut` after readyTimeoutMs. The process stays either way, under its restart policy. `exit`: answer only once the instance this launch started has exited: 201 with the process (its `exit` is that instance\'s), or with `remove=true` 200 once it is also removed. Not for a spec with `dependsOn` or `autostart: false` (400: the launch would start no instance to wait for). If the daemon shuts down first: 503 SHUTTING_DOWN (the shutdown stops the process). The launch counts against the launches in flight only until the instance has started.',
      }),
    ),
    readyTimeoutMs: Type.Optional(Digits(8, 'With wait=ready: give up waiting after this long (at most 86400000); default: no limit.')),
    remove: Type.Optional(
      Literals(['true', 'false'] as const, {
        description:
          'With wait=exit: once the instance has exited, remove the process (and its logs) as DELETE /v1/processes/{id} does, and answer 200 with its last state (`removed`, with the `exit`), like `docker run --rm`. The removal happens even if the client has gone away meanwhile; a daemon restarted before the exit forgets it (the process is adopted and stays).',
      }),
    ),
  },
  strict,
);

export const StopQuery = Type.Object({ timeoutMs: Type.Optional(Digits(7, 'Before SIGKILL; at most 3600000.')) }, strict);

export const MAX_WAIT_MS = 86_400_000;
export const WaitQuery = Type.Object({ timeoutMs: Type.Optional(Digits(8, `Give up after this long (at most ${MAX_WAIT_MS}); default: wait until the exit.`)) }, strict);

export const LogsQuery = Type.Object(
  {
    stream: Type.Optional(Literals(['stdout', 'stderr'] as const)),
    tail: Type.Optional(Digits(7, 'The last N records in memory; default: all of them.')),
    after: Type.Optional(Digits(15, 'Only records with a greater seq (resume a follow).')),
    follow: Type.Optional(Literals(['true', 'false'] as const)),
    format: Type.Optional(Literals(['ndjson', 'text'] as const)),
  },
  strict,
);

/** The query of routes that take none: any parameter is an error. */
export const NoQuery = Type.Object({}, strict);

/** The body of requests that take none (start, config reload, reexec): no body, `null` or `{}`. */
export const NoBody = Type.Union([Type.Object({}, strict), Type.Null()]);

export const DashboardAssetParams = Type.Object(
  { file: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}\\.(?:html|js|css|svg)$', description: 'A file of the dashboard.' }) },
  strict,
);
export const DashboardSessionBody = Type.Union([
  Type.Object({ ticket: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{16,128}$', description: 'A ticket from POST /v1/ui/tickets (or `pidvisor ui`), spent by this request.' })) }, strict),
  Type.Null(),
]);

export const EventsQuery = Type.Object({ after: Type.Optional(Digits(15, 'Only events with a greater seq.')) }, strict);
export const EventsHeaders = Type.Object(
  { 'last-event-id': Type.Optional(Digits(15, 'The last event id seen: the stream resumes after it.')) },
  { additionalProperties: true },
);

// ---- responses ----

const DateTime = Type.String({ format: 'date-time' });

export const ResourceUsage = Type.Object(
  {
    userCpuMicros: Type.Number(),
    systemCpuMicros: Type.Number(),
    maxRssKiB: Nullable(
      Type.Number({
        description:
          "The instance's own peak memory in KiB, or null when no figure is its own. Never the daemon's: the kernel's ru_maxrss of a vfork-style child includes the daemon's RSS at spawn.",
      }),
    ),
    maxRssSource: Type.Union([Type.Literal('memory.peak'), Type.Literal('ru_maxrss'), Type.Null()], {
      description:
        "`memory.peak`: the instance cgroup's peak (its whole tree, page cache included), where the cgroup v2 memory controller is enabled; `ru_maxrss`: the kernel's figure, used only when above the daemon's own peak, so it can only be the child's.",
    }),
    maxRssUnavailable: Nullable(Type.String({ description: 'Why maxRssKiB is null.' })),
  },
  strict,
);

export const ExitRecord = Type.Object(
  {
    instance: Nullable(Type.String()),
    pid: Nullable(Type.Integer()),
    code: Nullable(Type.Integer()),
    signal: Nullable(Type.String()),
    coreDumped: Type.Boolean(),
    rusage: Nullable(ResourceUsage),
    reason: Type.Union(
      (['exited', 'stopped', 'killed', 'spawn-failed', 'unobserved', 'unhealthy', 'not-ready', 'watchdog'] as const).map((value) => Type.Literal(value)),
      {
        description:
          'exited: by itself; stopped/killed: by a stop (killed: after the timeout, with SIGKILL); spawn-failed: never ran; unobserved: ended while no daemon ran; unhealthy: killed because its liveness probe failed; not-ready: killed because its readiness probe gave up; watchdog: killed (SIGABRT) for a missed sd_notify watchdog. The restart policy applies to the last three as to an exit by itself.',
      },
    ),
    startedAt: Nullable(DateTime),
    endedAt: DateTime,
    uptimeMs: Type.Number(),
    error: Nullable(
      Type.Object(
        {
          code: Type.String(),
          errno: Type.Integer(),
          stage: Type.String(),
          path: Nullable(Type.String({ description: 'What the failed step was about: the working directory for chdir, the program for execve.' })),
          message: Type.String(),
        },
        strict,
      ),
    ),
    detail: Type.Optional(Type.String({ description: 'For unhealthy, not-ready and watchdog: which check failed, and how.' })),
  },
  strict,
);

export const NotifyInfo = Type.Object(
  {
    socket: Type.String({ description: "The instance's NOTIFY_SOCKET: a unix datagram socket, mode 0600, in the state directory's notify/ (0700)." }),
    reloading: Type.Boolean({ description: 'RELOADING=1 was sent and no READY=1 since.' }),
    reloadMonotonicUsec: Nullable(Type.Number({ description: 'MONOTONIC_USEC= sent with the last RELOADING=1.' })),
    stopping: Type.Boolean({ description: 'STOPPING=1 was sent: the instance says it is shutting down.' }),
    errno: Nullable(Type.Integer({ description: 'ERRNO= as the instance reported it.' })),
    watchdogMs: Nullable(Type.Integer({ description: 'The watchdog period now (watchdogMs, or WATCHDOG_USEC= from the instance); null when off.' })),
    lastWatchdogAt: Nullable(DateTime),
    datagrams: Type.Object(
      {
        received: Type.Integer(),
        accepted: Type.Integer(),
        foreign: Type.Integer({ description: 'Dropped: sent by a process outside the current instance (by its SO_PASSCRED credentials), or while none runs.' }),
        malformed: Type.Integer({ description: 'Dropped: not UTF-8, a NUL, or a line without `=`.' }),
        oversize: Type.Integer({ description: 'Dropped: longer than 4096 bytes.' }),
        rateLimited: Type.Integer({ description: 'Dropped: beyond a burst of 200 at 100 per second.' }),
      },
      strict,
    ),
  },
  { ...strict, description: 'sd_notify, for services with notify: true (null otherwise).' },
);

export const ProbeStatus = Type.Object(
  {
    kind: Literals(['exec', 'http', 'tcp', 'logLine', 'notify'] as const),
    probe: Type.String({ description: 'The probe in words: `liveness http GET http://127.0.0.1:8080/health`.' }),
    successes: Type.Integer({ description: 'Checks that passed, for this instance.' }),
    failures: Type.Integer({ description: 'Checks that failed (a timeout counts), for this instance.' }),
    consecutiveSuccesses: Type.Integer(),
    consecutiveFailures: Type.Integer(),
    lastResult: Nullable(Literals(['success', 'failure'] as const)),
    lastDetail: Nullable(Type.String({ description: 'What the last check saw: `status 503`, `connect ECONNREFUSED 127.0.0.1:8080`, `timed out after 1000 ms; its processes were killed`.' })),
    lastDurationMs: Nullable(Type.Number()),
    lastAt: Nullable(DateTime),
    totalDurationMs: Type.Number({ description: 'Sum of the durations of every check of this instance.' }),
  },
  strict,
);

export const LogStatus = Type.Object(
  {
    capturedBytes: Type.Number({ description: "Bytes read from the process's stdout and stderr." }),
    writtenBytes: Type.Number({ description: 'Bytes of records written to the log files.' }),
    droppedBytes: Type.Number({ description: 'Bytes of records lost because the disk refused them (full, read-only, failing); the in-memory tail still has the newest.' }),
    droppedRecords: Type.Number(),
    writeFailures: Type.Number({ description: 'Runs of failed writes.' }),
    failing: Type.Boolean({ description: 'True from a failed write until a write succeeds.' }),
    lastError: Nullable(Type.String()),
  },
  strict,
);

const DependencyStatus = Type.Object(
  {
    name: Type.String({ description: 'The dependency, by name.' }),
    condition: Literals(DEPENDENCY_CONDITIONS),
    restart: Literals(['none', 'propagate'] as const),
    status: Literals(['met', 'waiting', 'blocked'] as const, {
      description:
        '`met`: the condition holds now. `waiting`: not yet, but it may without anyone acting (the dependency is starting, backing off, or waiting itself). `blocked`: not until someone acts (it failed, exited, was stopped or removed, or is blocked itself).',
    }),
    reason: Type.String({ description: 'Why the condition does not hold, in words; empty when met.' }),
  },
  strict,
);

export const CurrentUsage = Type.Object(
  {
    cpuUsec: Type.Number({ description: "CPU time of the instance so far, in µs: its cgroup's cpu.stat in cgroup kill mode, else the CPU time of its live processes and of the children they reaped (/proc). Never goes down within an instance." }),
    cpuPercent: Nullable(
      Type.Number({ description: '% of one core over the last window (at least 1 s between samples; since the start for a first sample); 200 = two cores busy. Null when the instance is too young to tell.' }),
    ),
    memoryBytes: Nullable(Type.Number({ description: 'Memory of the instance now (see memorySource); null when none of its processes could be read.' })),
    memorySource: Type.Union([Type.Literal('memory.current'), Type.Literal('rss'), Type.Null()], {
      description:
        "`memory.current`: the instance cgroup's charge (its whole tree, page cache and kernel memory included), where the cgroup v2 memory controller is on for it; `rss`: the summed resident set of its processes from /proc (shared pages count once per process).",
    }),
    tasks: Nullable(Type.Integer({ description: 'Threads of its processes.' })),
    fds: Nullable(Type.Integer({ description: 'Open fds of its processes (those the daemon may read).' })),
    uptimeMs: Type.Number({ description: 'Since the instance started, at sampledAt.' }),
    sampledAt: DateTime,
  },
  {
    ...strict,
    description:
      'What the running instance costs, sampled on request when the last sample is over a second old, and every 10 s in the background. Its processes follow the kill mode: the cgroup, the process group, or the main process and its descendants.',
  },
);

export const ProcessInfo = Type.Object(
  {
    id: Type.String(),
    name: Nullable(Type.String()),
    state: Literals(STATES),
    reason: Type.String(),
    pid: Nullable(Type.Integer()),
    instance: Nullable(Type.String({ description: 'Opaque identity of the running instance (pid + pidfs inode).' })),
    startedAt: Nullable(DateTime),
    restarts: Type.Integer(),
    exit: Nullable(ExitRecord),
    logs: Nullable(LogStatus),
    killMode: Literals(['process', 'group', 'cgroup'] as const),
    command: Type.Array(Type.String()),
    labels: Type.Record(Type.String(), Type.String()),
    origin: Literals(['api', 'config'] as const),
    health: Literals(['unknown', 'healthy', 'unhealthy'] as const, {
      description: 'From the liveness probe: unknown without one, or until it has passed successThreshold times (or failed failureThreshold times) for this instance.',
    }),
    statusText: Nullable(Type.String({ description: 'The last sd_notify STATUS= of the instance (notify services).' })),
    notify: Nullable(NotifyInfo),
    probes: Type.Object(
      { readiness: Nullable(ProbeStatus), liveness: Nullable(ProbeStatus) },
      { ...strict, description: 'The probes of the current instance: readiness until it is ready, liveness once it is (null: none, or not started).' },
    ),
    dependencies: Type.Array(DependencyStatus, { description: 'Each dependsOn entry, with whether its condition holds now and why not (empty: no dependsOn).' }),
    usage: Type.Union([CurrentUsage, Type.Null()], { description: "What the running instance costs; null when none runs (or, in a launch's answer, before its first sample)." }),
  },
  strict,
);

export const DependencyGraph = Type.Object(
  {
    nodes: Type.Array(Type.Object({ id: Type.String(), name: Nullable(Type.String()), state: Literals(STATES), reason: Type.String() }, strict), {
      description: 'Every process, with its state and why.',
    }),
    edges: Type.Array(
      Type.Composite([Type.Object({ from: Type.String({ description: 'The dependent: its name, or its id when it has none.' }) }), DependencyStatus], strict),
      { description: 'Every dependsOn entry of every process: `from` needs `name` to meet `condition`; `status` and `reason` say whether it does now.' },
    ),
    startOrder: Type.Array(Type.Array(Type.String()), {
      description: 'Named processes in layers: each layer depends only on earlier ones, and the processes of a layer start in parallel. Stops go in the reverse order.',
    }),
  },
  strict,
);

export const ProcessList = Type.Object({ processes: Type.Array(ProcessInfo) }, strict);

export const SignalResult = Type.Object({ pid: Type.Integer(), instance: Type.String(), signal: Type.Integer() }, strict);

export const WaitResult = Type.Object(
  {
    exit: Nullable(ExitRecord),
    timedOut: Type.Boolean({ description: 'True when timeoutMs passed first; `exit` is then null.' }),
  },
  strict,
);

const Feature = Type.Object({ ok: Type.Boolean(), code: Nullable(Type.String()) }, strict);

export const SystemInfo = Type.Object(
  {
    version: Type.String(),
    pid: Type.Integer(),
    startedAt: DateTime,
    kernel: Type.String(),
    capabilities: Type.Object(
      {
        kernel: Type.String(),
        spawnMethod: Literals(['clone3', 'clone'] as const),
        features: Type.Record(Type.String(), Feature),
        cgroup2Mount: Nullable(Type.String()),
      },
      strict,
    ),
    cgroupRoot: Nullable(Type.String()),
    cgroupUnavailable: Nullable(Type.String()),
    defaultKillMode: Literals(['process', 'group', 'cgroup'] as const),
    stateDir: Type.String(),
    services: Type.Integer(),
  },
  strict,
);

export const Health = Type.Object({ status: Type.Literal('ok') }, strict);

export const ErrorCodeSchema = Literals(ERROR_CODES);

export const Problem = Type.Object(
  {
    type: Type.String({ description: 'urn:pidvisor:problem:<name>' }),
    title: Type.String(),
    status: Type.Integer(),
    code: ErrorCodeSchema,
    detail: Type.String(),
  },
  { additionalProperties: true, description: 'RFC 9457 problem details; members besides these carry details (errno, stage, problems, ...).' },
);

/** What a config reload changed, by service name, in the order of the file. */
export const ConfigChanges = Type.Object(
  {
    added: Type.Array(Type.String()),
    changed: Type.Array(
      Type.Object(
        {
          name: Type.String(),
          fields: Type.Array(Type.String(), { description: 'The fields of the entry that changed, as paths: restart.policy, env.PATH, command.' }),
        },
        strict,
      ),
      { description: 'Redefined in place: same id, history and logs; restarted if it was running.' },
    ),
    removed: Type.Array(Type.String()),
    unchanged: Type.Array(Type.String()),
  },
  strict,
);

/** One reason a config file was refused (the `problems` of a PIDVISOR_ERR_CONFIG_INVALID). */
export const ConfigProblem = Type.Object(
  {
    path: Type.String({ description: 'The field: services.web.restart.policy; empty for the file itself.' }),
    line: Nullable(Type.Integer({ minimum: 1 })),
    column: Nullable(Type.Integer({ minimum: 1 })),
    message: Type.String(),
    allowed: Type.Optional(Type.Array(Type.String(), { description: 'The values (or fields) allowed there.' })),
  },
  strict,
);

/** One line of a logs response in the ndjson format. */
export const LogLine = Type.Object(
  {
    seq: Type.Integer(),
    time: DateTime,
    stream: Literals(['stdout', 'stderr'] as const),
    partial: Type.Boolean({ description: 'A piece of a line: cut because too long, not ended in time, or the last bytes at EOF.' }),
    data: Type.String({ contentEncoding: 'base64', description: 'The bytes without the newline, base64.' }),
  },
  strict,
);

export const ProcessInspection = Type.Object(
  {
    process: ProcessInfo,
    spec: Type.Union([LaunchBody], {
      description: 'The spec as given (from the API or the config file), with every env value replaced by "(hidden)": the names show what is set, the values may be secrets.',
    }),
    tree: Type.Array(
      Type.Object({ pid: Type.Integer(), ppid: Type.Integer(), command: Type.Array(Type.String(), { description: 'From /proc/PID/cmdline; `[comm]` when the argv is gone (a zombie).' }) }, strict),
      {
        description:
          "The processes of the tree now, as /proc shows them: the instance's cgroup (cgroup kill mode), the process group the main process leads (group), or the main process and its descendants (process). A snapshot: a pid may be gone by the time it is read.",
      },
    ),
    exits: Type.Array(ExitRecord, { description: 'The last exits, oldest first (the daemon keeps 20 per process).' }),
  },
  strict,
);

/** A one-time sign-in to the web dashboard (POST /v1/ui/tickets). */
export const Ticket = Type.Object(
  {
    ticket: Type.String({ description: 'Single use; trade it with POST /ui/session before expiresAt.' }),
    expiresAt: Type.String({ format: 'date-time' }),
    path: Type.String({ description: 'Where a browser opens the dashboard with it: /ui/#ticket=...' }),
  },
  strict,
);

/** What the daemon says when a hand-over begins (POST /v1/system/reexec). */
export const ReexecAnswer = Type.Object(
  {
    daemonPid: Type.Integer({ description: 'This daemon: it exits once everything is handed over' }),
    keeperPid: Type.Integer({ description: 'pidvisor-keeper: it re-executes itself from disk (same pid) and starts the new daemon' }),
    detail: Type.String(),
  },
  strict,
);

/** Schemas named in the OpenAPI components, by name. */
export const COMPONENTS: Readonly<Record<string, TSchema>> = {
  ServiceSpec: LaunchBody,
  ProcessInfo,
  ProbeStatus,
  NotifyInfo,
  ExitRecord,
  ResourceUsage,
  CurrentUsage,
  LogStatus,
  SystemInfo,
  SignalBody,
  SignalResult,
  WaitResult,
  LogLine,
  ConfigChanges,
  ConfigProblem,
  Problem,
  ErrorCode: ErrorCodeSchema,
};
