// process-compose's readiness_probe, liveness_probe and ready_log_line as pidvisor probes,
// read as process-compose reads them: src/health/probe.go (fields and their defaults,
// ValidateAndSetDefaults), src/health/health_checks.go and exec_checker.go (how a check runs:
// the first one right after the initial delay; exec through the project's shell with the
// process's environment; http_get through go-health, which wants exactly status_code) and
// src/app/process.go (what results do: a readiness probe keeps checking after the process is
// ready and stops it at failure_threshold; a liveness probe acts only on an is_daemon process;
// ready_log_line is a substring of one line of output).
import path from 'node:path';
import type { ProbeSpec } from '../../daemon/probes/probe-schema.js';
import { ImportError, type ImportNote } from '../result.js';

export interface ProbeContext {
  file: string;
  /** `processes.NAME`, for errors. */
  entry: string;
  shellCommand: string;
  shellArgument: string;
  /** Where process-compose runs: a relative working_dir resolves against it. */
  cwd: string;
  /** The process's own working directory, resolved: where pidvisor runs an exec probe. */
  workingDir: string;
  /** The process is a process-compose daemon (is_daemon: true). */
  isDaemon: boolean;
  note(kind: ImportNote['kind'], setting: string, reason: string): void;
}

export interface ImportedProbes {
  readiness?: ProbeSpec;
  liveness?: ProbeSpec;
}

const PROBE_FIELDS = new Set(['exec', 'http_get', 'initial_delay_seconds', 'period_seconds', 'timeout_seconds', 'success_threshold', 'failure_threshold']);
const EXEC_FIELDS = new Set(['command', 'working_dir']);
const HTTP_FIELDS = new Set(['host', 'scheme', 'path', 'port', 'num_port', 'headers', 'status_code']);
// pidvisor's bounds (daemon/probes/probe-spec.ts).
const MAX_MS = 3_600_000;
const MAX_SUCCESS_THRESHOLD = 1000;
const MAX_FAILURE_THRESHOLD = 1_000_000;

/** The pidvisor probes of one process (the caller has refused ready_log_line beside a readiness_probe). */
export function probesOf(definition: Record<string, unknown>, context: ProbeContext): ImportedProbes {
  const probes: ImportedProbes = {};
  const readiness = definition.readiness_probe === undefined || definition.readiness_probe === null ? null : probeOf(definition.readiness_probe, 'readiness_probe', context);
  const liveness = definition.liveness_probe === undefined || definition.liveness_probe === null ? null : probeOf(definition.liveness_probe, 'liveness_probe', context);
  if (readiness !== null) probes.readiness = readiness;
  if (liveness !== null) {
    probes.liveness = liveness;
    context.note(
      'approximated',
      'liveness_probe',
      `pidvisor runs it once the instance is ready (process-compose: from the start, after initial_delay_seconds)${
        context.isDaemon ? '' : ', and after failure_threshold failures in a row kills the instance and applies its restart policy (process-compose only logs the failures of a process that is not is_daemon)'
      }`,
    );
  }
  if (readiness !== null) {
    // process-compose goes on checking readiness once the process is ready, and stops it at
    // failure_threshold failures in a row whenever they come; pidvisor's readiness probe ends
    // at ready, and its liveness probe is what does that afterwards.
    if (liveness === null) {
      probes.liveness = { ...readiness, initialDelayMs: readiness.periodMs };
      context.note(
        'approximated',
        'readiness_probe',
        'process-compose keeps running the readiness probe once the process is ready and stops the process after failure_threshold failures in a row: pidvisor\'s readiness probe ends at ready, so the same check is also its liveness probe',
      );
    } else {
      context.note('unmapped', 'readiness_probe', 'its checks after the process is ready (process-compose stops the process after failure_threshold failures in a row): pidvisor checks a ready instance with the liveness probe only');
    }
  }
  const readyLogLine = definition.ready_log_line;
  if (readyLogLine !== undefined && readyLogLine !== null && String(readyLogLine) !== '') {
    // A substring of a line (strings.Contains): the pattern matches it literally, anywhere in a
    // line of stdout or stderr; process-compose waits for it as long as the process runs.
    probes.readiness = { kind: 'logLine', pattern: escapeRegExp(String(readyLogLine)), stream: 'any' };
  }
  return probes;
}

interface RawProbe {
  exec?: { command?: unknown; working_dir?: unknown } | null;
  http_get?: Record<string, unknown> | null;
  [field: string]: unknown;
}

/** A probe with every timing field written out: process-compose's defaults are not pidvisor's. */
type TimedProbe = ProbeSpec & { periodMs: number };

function probeOf(value: unknown, setting: string, context: ProbeContext): TimedProbe | null {
  const { file, entry, note } = context;
  if (typeof value !== 'object' || Array.isArray(value)) throw new ImportError(`${file}: ${entry}.${setting} must be a mapping (exec or http_get, and its timing)`);
  const probe = value as RawProbe;
  for (const field of Object.keys(probe)) {
    if (PROBE_FIELDS.has(field)) continue;
    // grpc: proposed to process-compose (its commit 93b909d), in none of its releases.
    const reason = field === 'grpc' ? 'pidvisor has no gRPC health check: a `tcp` probe on its port checks that it accepts connections' : 'not a field of a process-compose probe; process-compose ignores it';
    note('unmapped', `${setting}.${field}`, reason);
  }
  const check = checkOf(probe, setting, context);
  if (check === null) return null;
  const seconds = (field: string, fallback: number, minimum: number): number => {
    const raw = probe[field];
    if (raw === undefined || raw === null) return fallback;
    if (typeof raw !== 'number' || !Number.isInteger(raw)) throw new ImportError(`${file}: ${entry}.${setting}.${field}: ${JSON.stringify(raw)} is not an integer`);
    return raw < minimum ? fallback : raw;
  };
  const bounded = (field: string, value: number, maximum: number): number => {
    if (value <= maximum) return value;
    note('approximated', `${setting}.${field}`, `${value} is more than pidvisor takes: ${maximum}`);
    return maximum;
  };
  // ValidateAndSetDefaults: a value below its minimum is the default.
  const initialDelayMs = bounded('initial_delay_seconds', seconds('initial_delay_seconds', 0, 0) * 1000, MAX_MS);
  const periodMs = bounded('period_seconds', seconds('period_seconds', 10, 1) * 1000, MAX_MS);
  const timeoutMs = bounded('timeout_seconds', seconds('timeout_seconds', 1, 1) * 1000, MAX_MS);
  const successThreshold = bounded('success_threshold', seconds('success_threshold', 1, 1), MAX_SUCCESS_THRESHOLD);
  const failureThreshold = bounded('failure_threshold', seconds('failure_threshold', 3, 1), MAX_FAILURE_THRESHOLD);
  if (successThreshold > 1) {
    note('approximated', `${setting}.success_threshold`, `process-compose reads it but acts on the first success (its documentation calls it a placeholder); pidvisor waits for ${successThreshold} in a row`);
  }
  return { ...check, initialDelayMs, periodMs, timeoutMs, successThreshold, failureThreshold };
}

type Check = { kind: 'exec'; command: string[] } | { kind: 'http'; url: string; status: number[] };

function checkOf(probe: RawProbe, setting: string, context: ProbeContext): Check | null {
  const { note } = context;
  const exec = probe.exec ?? null;
  const httpGet = probe.http_get ?? null;
  if (exec !== null) {
    if (httpGet !== null) note('unmapped', `${setting}.http_get`, 'exec and http_get are exclusive: process-compose uses exec, as here');
    return execCheck(exec, setting, context);
  }
  if (httpGet !== null) return httpCheck(httpGet, setting, context);
  note('unmapped', setting, 'it has neither exec nor http_get: process-compose runs no probe (a readiness probe: the process is ready at its start)');
  return null;
}

/** exec: the command through the project's shell, with the process's environment, in working_dir (default: the process's). */
function execCheck(exec: Record<string, unknown>, setting: string, context: ProbeContext): Check {
  const { file, entry, note } = context;
  if (typeof exec !== 'object' || Array.isArray(exec)) throw new ImportError(`${file}: ${entry}.${setting}.exec must be a mapping with command`);
  for (const field of Object.keys(exec)) if (!EXEC_FIELDS.has(field)) note('unmapped', `${setting}.exec.${field}`, 'not a field of a process-compose exec probe; process-compose ignores it');
  const command = [context.shellCommand, context.shellArgument, exec.command === undefined || exec.command === null ? '' : String(exec.command)];
  const workingDir = typeof exec.working_dir === 'string' && exec.working_dir !== '' ? path.resolve(context.cwd, exec.working_dir) : context.workingDir;
  // pidvisor runs an exec probe where the service runs; env(1) -C changes to another
  // directory first without a second level of shell quoting.
  return { kind: 'exec', command: workingDir === context.workingDir ? command : ['env', '-C', workingDir, ...command] };
}

/** http_get: GET scheme://host[:port]path, passing only with status_code (default 200), as go-health checks. */
function httpCheck(httpGet: Record<string, unknown>, setting: string, context: ProbeContext): Check | null {
  const { file, entry, note } = context;
  if (typeof httpGet !== 'object' || Array.isArray(httpGet)) throw new ImportError(`${file}: ${entry}.${setting}.http_get must be a mapping`);
  for (const field of Object.keys(httpGet)) if (!HTTP_FIELDS.has(field)) note('unmapped', `${setting}.http_get.${field}`, 'not a field of a process-compose http_get probe; process-compose ignores it');
  const text = (field: string, fallback: string): string => {
    const value = httpGet[field];
    return value === undefined || value === null || String(value).trim() === '' ? fallback : String(value);
  };
  // Go's url.Parse lower-cases the scheme ("HTTP or HTTPS", says the documentation).
  const scheme = text('scheme', 'http').toLowerCase();
  const host = text('host', '127.0.0.1');
  const pathPart = text('path', '/');
  // port is a string to process-compose: strconv.Atoi, and outside 1-65535 no port at all.
  const portText = httpGet.port === undefined || httpGet.port === null ? '' : String(httpGet.port);
  const port = /^[+-]?\d+$/u.test(portText) ? Number(portText) : 0;
  if (portText !== '' && !(port >= 1 && port <= 65_535)) note('approximated', `${setting}.http_get.port`, `${JSON.stringify(portText)} is not a port from 1 to 65535: process-compose (and so this probe) uses the scheme's default port`);
  if (httpGet.num_port !== undefined) note('unmapped', `${setting}.http_get.num_port`, 'process-compose overwrites it with port');
  const headers = httpGet.headers;
  if (headers !== undefined && headers !== null && Object.keys(headers as object).length > 0) note('unmapped', `${setting}.http_get.headers`, "pidvisor's http probe sends no headers of your choosing");
  const code = Number(httpGet.status_code ?? 0);
  const status = Number.isInteger(code) && code >= 1 && code < 400 ? code : 200;
  const url = `${scheme}://${host}${port >= 1 && port <= 65_535 ? `:${port}` : ''}${pathPart}`;
  if (!/^https?:$/u.test(safeProtocol(url))) {
    note('unmapped', `${setting}.http_get`, `${url}: pidvisor's http probe GETs http and https URLs only`);
    return null;
  }
  return { kind: 'http', url, status: [status] };
}

function safeProtocol(url: string): string {
  try {
    return new URL(url).protocol;
  } catch {
    return '';
  }
}

/** `text` as a regular expression that matches it literally. */
export function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/gu, '\\$&');
}
