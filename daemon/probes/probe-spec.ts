// The definition of a readiness or liveness probe, with defaults filled in, from a spec the
// schema (probe-schema.ts) has accepted.
import { SupervisorError } from '../errors.js';
import type { ProbeKind, ProbeSpec } from './probe-schema.js';

export type ProbeRole = 'readiness' | 'liveness';

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
