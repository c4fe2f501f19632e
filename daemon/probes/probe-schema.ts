// The schema of a readiness or liveness probe (its definition, with defaults filled in, is
// probe-spec.ts). One flat object with a `kind`, rather than a union of objects: a union's
// validation error says only "must match a schema in anyOf", while defineProbe names the field.
// Apart from probe-spec.ts so that defining a probe does not load TypeBox (spec-check.ts); like
// spec.ts, a build-time definition the daemon imports only for its types.
import { Type, type Static } from '@sinclair/typebox';

export const PROBE_KINDS = ['exec', 'http', 'tcp', 'logLine', 'notify'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

const NoNul = '^[^\\u0000]*$';
const Millis = (description: string, minimum = 0) => Type.Optional(Type.Integer({ minimum, maximum: 3_600_000, description }));

export const ProbeSpec = Type.Object(
  {
    kind: Type.Union(PROBE_KINDS.map((kind) => Type.Literal(kind)), {
      description:
        'exec: a command that exits 0; http: a GET answered with an expected status (and body); tcp: a connection accepted; logLine: a line of captured output matching `pattern`; notify (readiness only): sd_notify READY=1 (implies `notify: true`).',
    }),
    command: Type.Optional(
      Type.Array(Type.String({ pattern: NoNul, maxLength: 65_536 }), {
        minItems: 1,
        maxItems: 256,
        description: 'exec: argv, run as the service (user, environment, working directory), in a process tree of its own that is killed whole at timeoutMs.',
      }),
    ),
    url: Type.Optional(Type.String({ pattern: '^https?://[^\\u0000]+$', maxLength: 4096, description: 'http: the URL to GET (http or https; no keep-alive).' })),
    status: Type.Optional(
      Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1, maxItems: 64, description: 'http: statuses that count as success (default: any from 200 to 399).' }),
    ),
    bodyPattern: Type.Optional(Type.String({ pattern: NoNul, minLength: 1, maxLength: 4096, description: 'http: a JavaScript regular expression the first 64 KiB of the body must match.' })),
    host: Type.Optional(Type.String({ pattern: NoNul, minLength: 1, maxLength: 255, description: 'tcp: the host to connect to (default 127.0.0.1).' })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_535, description: 'tcp: the port to connect to.' })),
    pattern: Type.Optional(
      Type.String({
        pattern: NoNul,
        minLength: 1,
        maxLength: 4096,
        description:
          'logLine: a JavaScript regular expression matched against each captured line of the instance. Readiness: ready at the first match. Liveness: each period needs a new matching line (a heartbeat).',
      }),
    ),
    stream: Type.Optional(Type.Union([Type.Literal('stdout'), Type.Literal('stderr'), Type.Literal('any')], { description: 'logLine: which captured stream to read (default any).' })),
    initialDelayMs: Millis('Wait this long after the instance starts (readiness) or becomes ready (liveness) before the first check. Default 0.'),
    periodMs: Millis('Time between the starts of two checks. Default 500 (readiness), 10000 (liveness).', 10),
    timeoutMs: Millis('A check that has not answered by then fails (an exec check has its whole tree killed). Default 1000. notify: how long to wait for READY=1 before the start fails (EXTEND_TIMEOUT_USEC= extends it); default no limit.', 1),
    successThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Consecutive successes needed: to become ready, or healthy. Default 1.' })),
    failureThreshold: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description:
          'Consecutive failures after which the instance is killed (stop signal, SIGKILL after stopTimeoutMs) and its restart policy applies. Default 3 for liveness; readiness by default never gives up while the instance runs.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ProbeSpec = Static<typeof ProbeSpec>;
