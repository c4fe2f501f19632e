// The schema of a service: one definition for the API's launch body and for entries of the
// YAML config, so both are validated the same way. Rejects rather than repairs: unknown
// fields, wrong types and NUL bytes are errors.
//
// Build time only (and tests): the running daemon checks specs with code generated from these
// definitions (spec-check.generated.ts; the API's launch body through
// api/server/schemas.generated.ts) and imports this module only for its types, so that it
// never loads TypeBox.
import { Type, type Static } from '@sinclair/typebox';
import { ProbeSpec } from './probes/probe-schema.js';
import { NAME_PATTERN } from './service-name.js';

export { NAME_PATTERN };

// C strings end at NUL; a value with one would reach the kernel cut short.
const Text = (options: { minLength?: number; maxLength?: number; description?: string } = {}) =>
  Type.String({ pattern: '^[^\\u0000]*$', maxLength: 65_536, ...options });

const strict = { additionalProperties: false } as const;

export const ServiceName = Type.String({ pattern: NAME_PATTERN, description: 'Unique name: letters, digits, `_`, `.`, `-`; at most 63 characters.' });

export const SignalSpec = Type.Union(
  [Type.String({ pattern: '^(SIG)?[A-Z0-9+-]+$', maxLength: 16 }), Type.Integer({ minimum: 1, maximum: 64 })],
  // The API's validation errors quote this instead of the first branch's "must be string".
  { description: 'a signal name such as SIGTERM or TERM, or a signal number from 1 to 64' },
);

// JSON numbers are doubles: above 2^53 - 1 an integer is no longer exact, so a larger
// limit is refused rather than silently rounded (use 'unlimited' for RLIM_INFINITY).
const RlimitValue = Type.Union([Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }), Type.Literal('unlimited')], {
  description: `an integer from 0 to ${Number.MAX_SAFE_INTEGER}, or "unlimited"`,
});
const RlimitSpec = Type.Union([RlimitValue, Type.Object({ soft: RlimitValue, hard: RlimitValue }, strict)]);
const RLIMIT_NAMES = ['cpu', 'fsize', 'data', 'stack', 'core', 'rss', 'nproc', 'nofile', 'memlock', 'as', 'locks', 'sigpending', 'msgqueue', 'nice', 'rtprio', 'rttime'] as const;

export const RestartSpec = Type.Object(
  {
    policy: Type.Optional(Type.Union([Type.Literal('no'), Type.Literal('on-failure'), Type.Literal('always')])),
    successCodes: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 255 }), { maxItems: 256 })),
    initialDelayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000 })),
    maxDelayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
    multiplier: Type.Optional(Type.Number({ minimum: 1, maximum: 10 })),
    jitter: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    resetAfterMs: Type.Optional(Type.Integer({ minimum: 0 })),
    maxRestarts: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    windowMs: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  strict,
);

export const DEPENDENCY_CONDITIONS = ['started', 'ready', 'healthy', 'completed', 'completedSuccessfully'] as const;
export type DependencyCondition = (typeof DEPENDENCY_CONDITIONS)[number];

// The descriptions sit on the object, not on the unions: the API quotes a union's
// description as what a wrong value must be (errors.ts, explainUnions).
export const DependencySpec = Type.Object(
  {
    condition: Type.Union(DEPENDENCY_CONDITIONS.map((condition) => Type.Literal(condition))),
    restart: Type.Optional(Type.Union([Type.Literal('none'), Type.Literal('propagate')])),
  },
  {
    ...strict,
    description:
      '`condition`: what the dependency must be before this service starts. `started`: an instance of it has been spawned (starting or running); `ready`: it is running (past its start grace period, or ready by its readiness probe); `healthy`: running and healthy by its liveness probe (with no liveness probe, as ready); `completed`: its last instance exited by itself, whatever the code; `completedSuccessfully`: exited by itself with code 0. ' +
      '`restart`: what a stop or restart of the dependency asked for by a request or a reload does to this service. `none` (default): nothing. `propagate`: this service is stopped first, and after a restart started again once the condition holds again (as systemd PartOf=). Exits and restarts by the restart policy are never propagated.',
  },
);
export type DependencySpec = Static<typeof DependencySpec>;

export const ServiceSpec = Type.Object(
  {
    name: Type.Optional(ServiceName),
    command: Type.Array(Text({ maxLength: 131_072 }), {
      minItems: 1,
      maxItems: 4096,
      description: 'argv; argv[0] is looked up on PATH when it has no slash.',
    }),
    env: Type.Optional(
      Type.Record(Type.String({ pattern: '^[^=\\u0000]{1,4096}$' }), Text(), {
        additionalProperties: false,
        maxProperties: 4096,
        description: 'Added to (or, with clearEnv, replacing) the daemon environment.',
      }),
    ),
    clearEnv: Type.Optional(Type.Boolean({ description: 'Start from an empty environment instead of the daemon one.' })),
    cwd: Type.Optional(Text({ minLength: 1, maxLength: 4096 })),
    user: Type.Optional(Type.Union([Text({ minLength: 1, maxLength: 256 }), Type.Integer({ minimum: 0, maximum: 4_294_967_294 })])),
    group: Type.Optional(Type.Union([Text({ minLength: 1, maxLength: 256 }), Type.Integer({ minimum: 0, maximum: 4_294_967_294 })])),
    umask: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o777 })),
    rlimits: Type.Optional(Type.Partial(Type.Object(Object.fromEntries(RLIMIT_NAMES.map((name) => [name, RlimitSpec])) as Record<(typeof RLIMIT_NAMES)[number], typeof RlimitSpec>, strict))),
    stdin: Type.Optional(Type.Union([Type.Literal('null'), Type.Literal('inherit')])),
    stdout: Type.Optional(Type.Union([Type.Literal('capture'), Type.Literal('inherit'), Type.Literal('null')])),
    stderr: Type.Optional(Type.Union([Type.Literal('capture'), Type.Literal('inherit'), Type.Literal('null')])),
    restart: Type.Optional(RestartSpec),
    startGraceMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000, description: 'An instance is `starting` until it has run this long.' })),
    stopSignal: Type.Optional(SignalSpec),
    stopTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000 })),
    killMode: Type.Optional(Type.Union([Type.Literal('process'), Type.Literal('group'), Type.Literal('cgroup')])),
    labels: Type.Optional(Type.Record(Type.String({ pattern: '^[^\\u0000]{1,63}$' }), Text({ maxLength: 1024 }), { additionalProperties: false, maxProperties: 256 })),
    autostart: Type.Optional(Type.Boolean({ description: 'Config services: start when loaded (default true).' })),
    readiness: Type.Optional(
      Type.Object(ProbeSpec.properties, {
        additionalProperties: false,
        description: 'How to tell the instance is ready: it stays `starting` until this passes (instead of startGraceMs), then becomes `running`.',
      }),
    ),
    liveness: Type.Optional(
      Type.Object(ProbeSpec.properties, {
        additionalProperties: false,
        description: 'How to tell a ready instance still works: after failureThreshold failures in a row it is killed and its restart policy applies.',
      }),
    ),
    notify: Type.Optional(
      Type.Boolean({
        description:
          'sd_notify: the instance gets NOTIFY_SOCKET, and is ready at READY=1 (unless a readiness probe of another kind says otherwise). STATUS= is shown as statusText.',
      }),
    ),
    watchdogMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 3_600_000,
        description: 'sd_notify watchdog (needs notify): the instance gets WATCHDOG_USEC and must send WATCHDOG=1 within each period, or it gets SIGABRT and its restart policy applies.',
      }),
    ),
    dependsOn: Type.Optional(
      Type.Record(Type.String({ pattern: NAME_PATTERN }), DependencySpec, {
        additionalProperties: false,
        maxProperties: 256,
        description:
          'Services (by name) that must meet a condition before this one starts, every time it starts: by request, at launch, by autostart or by its restart policy. Until then it is `waiting`, or `blocked` when a dependency cannot meet its condition without someone acting (it failed, exited, was stopped or removed); its `reason` names the dependency and why. Starting it by request first starts the dependencies it needs that are not running. A dependency on a name that does not exist, or a cycle, is refused.',
      }),
    ),
  },
  strict,
);
export type ServiceSpec = Static<typeof ServiceSpec>;
