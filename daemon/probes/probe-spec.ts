// The schema of a readiness or liveness probe, and its definition with defaults filled in.
// One flat object with a `kind`, rather than a union of objects: a union's validation error
// says only "must match a schema in anyOf", while the per-kind check below names the field.
import { Type, type Static } from '@sinclair/typebox';
import { SupervisorError } from '../errors.js';

export const PROBE_KINDS = ['exec', 'http', 'tcp', 'logLine', 'notify'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];
export type ProbeRole = 'readiness' | 'liveness';

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

interface ProbeTiming {
  role: ProbeRole;
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  /** null: never gives up (readiness by default). */
  failureThreshold: number | null;
}

export type ProbeCheck =
  | { kind: 'exec'; command: [string, ...string[]] }
  | { kind: 'http'; url: URL; status: readonly number[] | null; bodyPattern: RegExp | null }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'logLine'; pattern: RegExp; stream: 'stdout' | 'stderr' | 'any' }
  | { kind: 'notify' };

export type ProbeDefinition = ProbeTiming & { check: ProbeCheck };

const FIELDS_OF: Record<ProbeKind, readonly string[]> = {
  exec: ['command'],
  http: ['url', 'status', 'bodyPattern'],
  tcp: ['host', 'port'],
  logLine: ['pattern', 'stream'],
  notify: [],
};
const REQUIRED_OF: Record<ProbeKind, readonly string[]> = { exec: ['command'], http: ['url'], tcp: ['port'], logLine: ['pattern'], notify: [] };
const KIND_FIELDS = new Set(Object.values(FIELDS_OF).flat());

/** The definition of a probe the schema has accepted; throws INVALID_SPEC naming the field. */
export function defineProbe(spec: ProbeSpec, role: ProbeRole, capturing: { stdout: boolean; stderr: boolean }): ProbeDefinition {
  const at = `/${role}`;
  const problem = (field: string, message: string): never => {
    throw new SupervisorError('INVALID_SPEC', `invalid service: ${at}${field}: ${message}`, { problems: [{ path: `${at}${field}`, message }] });
  };
  const kind = spec.kind;
  if (role === 'liveness' && kind === 'notify') problem('/kind', 'notify is a readiness probe only (READY=1); use watchdogMs for liveness through sd_notify');
  for (const field of Object.keys(spec)) {
    if (KIND_FIELDS.has(field) && !FIELDS_OF[kind].includes(field)) problem(`/${field}`, `is not a field of a ${kind} probe`);
  }
  for (const field of REQUIRED_OF[kind]) if (!(field in spec)) problem(`/${field}`, `is required for a ${kind} probe`);
  const timing: ProbeTiming = {
    role,
    initialDelayMs: spec.initialDelayMs ?? 0,
    periodMs: spec.periodMs ?? (role === 'readiness' ? 500 : 10_000),
    // notify: how long to wait for READY=1; by default as long as it takes (systemd's
    // TimeoutStartSec= has a default; a supervisor of local processes cannot guess one).
    timeoutMs: spec.timeoutMs ?? (kind === 'notify' ? 0 : 1000),
    successThreshold: spec.successThreshold ?? 1,
    failureThreshold: spec.failureThreshold ?? (role === 'readiness' ? null : 3),
  };
  const regex = (field: string, source: string): RegExp => {
    try {
      return new RegExp(source);
    } catch (error) {
      return problem(`/${field}`, (error as Error).message);
    }
  };
  switch (kind) {
    case 'exec':
      if (spec.command![0] === '') problem('/command/0', 'the program (argv[0]) is empty');
      return { ...timing, check: { kind, command: spec.command as [string, ...string[]] } };
    case 'http': {
      let url: URL;
      try {
        url = new URL(spec.url!);
      } catch {
        return problem('/url', 'is not a valid URL');
      }
      return { ...timing, check: { kind, url, status: spec.status ?? null, bodyPattern: spec.bodyPattern === undefined ? null : regex('bodyPattern', spec.bodyPattern) } };
    }
    case 'tcp':
      return { ...timing, check: { kind, host: spec.host ?? '127.0.0.1', port: spec.port! } };
    case 'logLine': {
      const stream = spec.stream ?? 'any';
      const captured = stream === 'any' ? capturing.stdout || capturing.stderr : capturing[stream];
      if (!captured) problem('/stream', `a logLine probe reads captured output: set ${stream === 'any' ? 'stdout or stderr' : stream} to "capture"`);
      return { ...timing, check: { kind, pattern: regex('pattern', spec.pattern!), stream } };
    }
    case 'notify':
      return { ...timing, check: { kind } };
  }
}

/** How a probe is named in reasons and events: `liveness http GET http://127.0.0.1:8080/health`. */
export function describeProbe(probe: ProbeDefinition): string {
  const check = probe.check;
  switch (check.kind) {
    case 'exec':
      return `${probe.role} exec ${JSON.stringify(check.command)}`;
    case 'http':
      return `${probe.role} http GET ${check.url.href}`;
    case 'tcp':
      return `${probe.role} tcp ${check.host}:${check.port}`;
    case 'logLine':
      return `${probe.role} logLine /${check.pattern.source}/`;
    case 'notify':
      return `${probe.role} notify READY=1`;
  }
}
