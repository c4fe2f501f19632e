// process-compose's YAML as process-compose reads it (src/loader: variables substituted in
// the whole file first, defaults from mutators.go; src/types/process.go; src/app/process.go
// for restarts and stops; src/app/environment.go for the environment; src/loader/validators.go
// for what it refuses), turned into pidvisor services. Probes: probes.ts.
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { DependencySpec, ServiceSpec } from '../../daemon/spec.js';
import { ImportError, serviceName, type ImportedService, type ImportNote, type ImportResult } from '../result.js';
import { envsubst, parseDotEnv } from './envsubst.js';
import { probesOf } from './probes.js';

export interface ProcessComposeOptions {
  /** Where process-compose would run: relative working_dir and the .env file resolve against it. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

// Fields of a process that are read here; others are reported with a reason.
const MAPPED = new Set([
  'command', 'entrypoint', 'working_dir', 'environment', 'availability', 'shutdown', 'replicas', 'disabled', 'namespace', 'description', 'success_exit_codes', 'depends_on',
  'readiness_probe', 'liveness_probe', 'ready_log_line',
]);

const UNMAPPED: Record<string, string> = {
  is_daemon: 'pidvisor supervises the process it starts; a program that forks into the background and exits looks ended (run it in the foreground)',
  log_location: 'pidvisor writes captured output to <state-dir>/logs/ (CRI format, rotated); read it with `pidvisor logs NAME`',
  log_configuration: 'pidvisor writes captured output to <state-dir>/logs/ (CRI format, rotated); read it with `pidvisor logs NAME`',
  env_file: 'pidvisor reads no env files: put the variables in `env`',
  vars: 'process-compose templates ({{.NAME}}) are not expanded by the import',
  is_tty: 'pidvisor services have no terminal',
  is_interactive: 'pidvisor services have no terminal',
  is_foreground: 'pidvisor services have no terminal',
  is_elevated: 'give the service `user` instead of sudo',
  schedule: 'pidvisor has no scheduled runs',
  watch: 'pidvisor does not restart on file changes',
  extends: 'extended processes are not merged by the import',
  launch_timeout_seconds: 'pidvisor has no launch timeout; a daemon-style process is not supported',
  disable_ansi_colors: 'pidvisor keeps output as it is, byte for byte',
  is_dotenv_disabled: 'the import reads .env for the substitution of variables only',
  is_disabled: 'process-compose templates are not expanded by the import',
  is_template_disabled: 'process-compose templates are not expanded by the import',
  mcp: 'pidvisor has no MCP server',
  monitor_for: 'a process-compose TUI setting',
  monitor_silence_threshold: 'a process-compose TUI setting',
  truncate_log: 'pidvisor keeps logs across restarts, rotated by size',
};

const PROJECT_KEYS: Record<string, string> = {
  version: '',
  processes: '',
  environment: '',
  shell: '',
  name: 'the project name: pidvisor has one daemon per state dir',
  log_location: "process-compose's own log: pidvisor's daemon logs JSON lines on stderr",
  log_level: "process-compose's own log: PIDVISOR_LOG_LEVEL",
  log_length: "pidvisor keeps a bounded tail of each service's output in memory and all of it on disk",
  log_configuration: "process-compose's own log: pidvisor's daemon logs JSON lines on stderr",
  is_strict: 'the import reports every field it does not know',
  vars: 'process-compose templates ({{.NAME}}) are not expanded by the import',
  disable_env_expansion: '',
  is_tui_disabled: 'pidvisor has no TUI; `pidvisor top` and `pidvisor ps` show the services',
  extends: 'extended projects are not merged by the import',
  env_cmds: 'pidvisor runs no commands to compute the environment',
  ordered_shutdown: 'pidvisor stops every service in parallel',
  mcp_server: 'pidvisor has no MCP server',
};

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 9: 'SIGKILL', 10: 'SIGUSR1', 12: 'SIGUSR2', 15: 'SIGTERM', 28: 'SIGWINCH' };
// process-compose counts restarts since the project started; pidvisor within a window.
const YEAR_MS = 365 * 24 * 3600 * 1000;

export function importProcessCompose(file: string, options: ProcessComposeOptions = {}): ImportResult {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  let source: string;
  try {
    source = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ImportError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const dotEnvFile = path.join(cwd, '.env');
  const dotEnv = fs.existsSync(dotEnvFile) ? parseDotEnv(fs.readFileSync(dotEnvFile, 'utf8')) : {};
  const notes: ImportNote[] = [];
  // Parsed as written, before the substitution of variables: where each setting is, by line.
  const lineCounter = new LineCounter();
  const raw = parseDocument(source, { uniqueKeys: false, lineCounter });
  const at = locator(raw, lineCounter, file);
  const disableExpansion = isMap(raw.contents) && raw.get('disable_env_expansion') === true;
  const substituted = disableExpansion ? { text: source, used: [] } : envsubst(source, (name) => dotEnv[name] ?? env[name], file);
  if (substituted.used.length > 0) {
    notes.push({ kind: 'approximated', at: file, entry: '(file)', setting: 'variables', reason: `${substituted.used.map((name) => `$${name}`).join(', ')} substituted now, from ${Object.keys(dotEnv).length > 0 ? `${dotEnvFile} and ` : ''}the environment \`pidvisor import\` runs in, as process-compose does when it loads the file` });
  }
  const document = parseDocument(substituted.text, { prettyErrors: true });
  if (document.errors.length > 0) throw new ImportError(`${file}: ${document.errors[0]!.message}`);
  const project = document.toJS() as Record<string, unknown> | null;
  if (typeof project !== 'object' || project === null || Array.isArray(project)) throw new ImportError(`${file}: a process-compose file is a mapping with "processes"`);
  for (const key of Object.keys(project)) {
    const reason = PROJECT_KEYS[key];
    if (reason === '') continue;
    notes.push({ kind: 'unmapped', at: at([key]), entry: '(project)', setting: key, reason: reason ?? (key.startsWith('x-') ? 'an extension field' : 'not a process-compose field; process-compose refuses it') });
  }
  const shell = (project.shell ?? {}) as { shell_command?: string; shell_argument?: string };
  const shellCommand = shell.shell_command ?? env.COMPOSE_SHELL ?? 'bash';
  const shellArgument = shell.shell_argument ?? '-c';
  const globalEnv = environmentList(project.environment, file, '(project)');
  const processes = (project.processes ?? {}) as Record<string, unknown>;
  if (typeof processes !== 'object' || Array.isArray(processes)) throw new ImportError(`${file}: "processes" must be a mapping of name to process`);
  const comments = processComments(document);
  const taken = new Set<string>();
  const services: ImportedService[] = [];
  // Each process's service names (its replicas), for the dependencies of the others.
  const serviceNames = new Map<string, string[]>();
  let withoutTimeout = 0;
  for (const [name, value] of Object.entries(processes)) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ImportError(`${file}: processes.${name} must be a mapping`);
    const definition = value as Record<string, unknown>;
    const entry = `processes.${name}`;
    const note = (kind: ImportNote['kind'], setting: string, reason: string): void => void notes.push({ kind, at: at(['processes', name, ...setting.split('.')]), entry, setting, reason });
    for (const key of Object.keys(definition)) {
      if (MAPPED.has(key)) continue;
      note('unmapped', key, UNMAPPED[key] ?? (key.startsWith('x-') ? 'an extension field' : 'not a process-compose field; process-compose refuses it'));
    }
    const command = commandOf(definition, shellCommand, shellArgument, file, entry);
    const shutdown = (definition.shutdown ?? {}) as { command?: string; signal?: number; timeout_seconds?: number; parent_only?: boolean; send_keys?: string };
    if (shutdown.command !== undefined) note('unmapped', 'shutdown.command', 'pidvisor stops with a signal, not a command');
    if (shutdown.send_keys !== undefined) note('unmapped', 'shutdown.send_keys', 'pidvisor services have no terminal');
    if (shutdown.timeout_seconds === undefined || shutdown.timeout_seconds === 0) withoutTimeout++;
    const signal = shutdown.signal ?? 15;
    const availability = (definition.availability ?? {}) as { restart?: string; backoff_seconds?: number; max_restarts?: number; exit_on_end?: boolean; exit_on_skipped?: boolean };
    if (availability.exit_on_end === true) note('unmapped', 'availability.exit_on_end', 'pidvisor does not stop the other services when one ends');
    if (availability.exit_on_skipped === true) note('unmapped', 'availability.exit_on_skipped', 'pidvisor does not stop the other services when one ends');
    if (availability.restart === 'exit_on_failure') note('approximated', 'availability.restart', 'exit_on_failure: not restarted, but pidvisor does not stop the other services when it fails');
    const successCodes = [0, ...(((definition.success_exit_codes ?? []) as number[]).filter((code) => code !== 0))];
    const policy = availability.restart === 'always' ? 'always' : availability.restart === 'on_failure' ? 'on-failure' : 'no';
    const backoffMs = Math.min(Math.max(availability.backoff_seconds ?? 1, 1) * 1000, 3_600_000);
    const unlimited = (availability.max_restarts ?? 0) === 0;
    const replicas = Math.max(1, Number(definition.replicas ?? 1));
    const width = 1 + Math.floor(Math.log10(replicas));
    const workingDir = typeof definition.working_dir === 'string' && definition.working_dir !== '' ? path.resolve(cwd, definition.working_dir) : cwd;
    const namespace = typeof definition.namespace === 'string' ? definition.namespace : Array.isArray(definition.namespace) ? definition.namespace.join(',') : undefined;
    if (hasReadinessProbe(definition) && hasReadyLogLine(definition)) throw new ImportError(`${file}: 'ready_log_line' and readiness probe defined in '${name}' are incompatible`);
    const probes = probesOf(definition, { file, entry, shellCommand, shellArgument, cwd, workingDir, isDaemon: definition.is_daemon === true, note });
    for (let replica = 0; replica < replicas; replica++) {
      const wanted = replicas > 1 ? `${name}-${String(replica).padStart(width, '0')}` : name;
      const service = serviceName(wanted, taken, (reason) => note('approximated', 'name', reason));
      taken.add(service);
      serviceNames.set(name, [...(serviceNames.get(name) ?? []), service]);
      const spec: Omit<ServiceSpec, 'name'> = {
        command,
        env: { PC_PROC_NAME: name, PC_REPLICA_NUM: String(replica), ...globalEnv, ...environmentList(definition.environment, file, entry) },
        cwd: workingDir,
        restart: {
          policy,
          ...(policy === 'on-failure' ? { successCodes } : {}),
          initialDelayMs: backoffMs,
          multiplier: 1,
          maxDelayMs: backoffMs,
          jitter: 0,
          maxRestarts: unlimited ? 1_000_000 : Math.min(availability.max_restarts!, 1_000_000),
          windowMs: YEAR_MS,
        },
        stopSignal: SIGNALS[signal] ?? signal,
        ...(shutdown.timeout_seconds === undefined || shutdown.timeout_seconds === 0 ? {} : { stopTimeoutMs: Math.min(shutdown.timeout_seconds * 1000, 3_600_000) }),
        ...(shutdown.parent_only === true ? { killMode: 'process' as const } : {}),
        ...(namespace === undefined ? {} : { labels: { namespace } }),
        ...(definition.disabled === true ? { autostart: false } : {}),
        ...probes,
      };
      const serviceComments = [...(replica === 0 ? (comments.get(name) ?? []) : []), ...(typeof definition.description === 'string' ? [definition.description] : []), `from ${entry} in ${file}${replicas > 1 ? ` (replica ${replica} of ${replicas})` : ''}`];
      services.push({ name: service, spec, comments: serviceComments });
    }
  }
  refuseCycles(processes, file);
  for (const [name, names] of serviceNames) {
    const dependsOn = dependencies(processes, name, serviceNames, file, project.is_strict === true, (kind, setting, reason) => void notes.push({ kind, at: at(['processes', name, ...setting.split('.')]), entry: `processes.${name}`, setting, reason }));
    if (Object.keys(dependsOn).length === 0) continue;
    for (const service of services) if (names.includes(service.name)) service.spec.dependsOn = dependsOn;
  }
  if (withoutTimeout > 0) notes.push({ kind: 'approximated', at: file, entry: '(processes without shutdown.timeout_seconds)', setting: 'shutdown.timeout_seconds', reason: 'process-compose then never sends SIGKILL; pidvisor sends it after stopTimeoutMs (10 s by default)' });
  return { format: 'process-compose', file, services, notes };
}

type DependencyCondition = DependencySpec['condition'];
type Note = (kind: ImportNote['kind'], setting: string, reason: string) => void;

const CONDITIONS = ['process_started', 'process_healthy', 'process_completed', 'process_completed_successfully', 'process_log_ready'];

/**
 * depends_on: each dependency (every replica of a replicated one, unless the replicas are
 * named) with the pidvisor condition that waits for what process-compose waits for
 * (waitIfNeeded in src/app/project_runner.go). With no condition: process-compose's zero
 * value, process_completed.
 */
function dependencies(processes: Record<string, unknown>, name: string, serviceNames: ReadonlyMap<string, string[]>, file: string, strict: boolean, note: Note): Record<string, { condition: DependencyCondition }> {
  const dependsOn = ((processes[name] as Record<string, unknown>).depends_on ?? {}) as Record<string, { condition?: string } | null>;
  const result: Record<string, { condition: DependencyCondition }> = {};
  const replicaOf = new Map([...serviceNames.entries()].flatMap(([process, names]) => (names.length > 1 ? names.map((service) => [service, process] as const) : [])));
  for (const [dependency, settings] of Object.entries(dependsOn)) {
    const raw = settings?.condition ?? 'process_completed';
    if (!CONDITIONS.includes(raw)) throw new ImportError(`${file}: processes.${name}.depends_on.${dependency}: invalid process dependency condition: ${JSON.stringify(raw)}`);
    const process = serviceNames.has(dependency) ? dependency : replicaOf.get(dependency);
    // validateDependencyIsEnabled refuses the file.
    if (process === undefined) throw new ImportError(`${file}: dependency process '${dependency}' in process '${name}' is not defined`);
    const target = processes[process] as Record<string, unknown>;
    const condition = conditionOf(raw, dependency, target, name, file, strict, (kind, reason) => note(kind, `depends_on.${dependency}`, reason));
    // cloneReplicas: a replica named in depends_on of its own keeps its own condition.
    const targets = process === dependency ? serviceNames.get(process)!.filter((service) => service === dependency || !(service in dependsOn)) : [dependency];
    for (const service of targets) result[service] = { condition };
  }
  return result;
}

function conditionOf(raw: string, dependency: string, target: Record<string, unknown>, name: string, file: string, strict: boolean, note: (kind: ImportNote['kind'], reason: string) => void): DependencyCondition {
  switch (raw) {
    case 'process_started':
      return 'started';
    case 'process_completed':
      return 'completed';
    case 'process_completed_successfully': {
      const codes = ((target.success_exit_codes ?? []) as unknown[]).filter((code) => code !== 0);
      if (codes.length > 0) note('approximated', `pidvisor's completedSuccessfully wants exit code 0; process-compose also takes ${dependency}'s success_exit_codes (${codes.join(', ')})`);
      return 'completedSuccessfully';
    }
    case 'process_log_ready':
      // validateHealthDependencyHasHealthCheck refuses the file.
      if (!hasReadyLogLine(target)) throw new ImportError(`${file}: log ready dependency defined in '${name}' but no ready log line exists in '${dependency}'`);
      return 'ready';
    default: {
      // process_healthy: process-compose waits for the readiness probe to pass (waitUntilReady),
      // which is pidvisor's `ready` for a service with a readiness probe.
      if (hasReadinessProbe(target)) {
        const probe = target.readiness_probe as Record<string, unknown>;
        const runs = (probe.exec ?? null) !== null || (probe.http_get ?? null) !== null;
        if (!runs) note('approximated', `ready: ${dependency}'s readiness probe has neither exec nor http_get, so process-compose would wait for it as long as ${dependency} runs; pidvisor starts this process once ${dependency} is running past its startGraceMs`);
        return 'ready';
      }
      if (target.liveness_probe !== undefined && target.liveness_probe !== null) {
        note('approximated', `healthy: pidvisor waits for ${dependency}'s liveness probe to pass; process-compose waits for a readiness probe, which ${dependency} does not have, so it would not start this process until ${dependency} ends, and then not at all`);
        return 'healthy';
      }
      const refusal = `health dependency defined in '${name}' but no health check exists in '${dependency}'`;
      // validateHealthDependencyHasHealthCheck: an error with is_strict, else logged, and the process is not started.
      if (strict) throw new ImportError(`${file}: ${refusal}`);
      note('approximated', `ready: ${dependency} has no probe, and process-compose would not start this process at all ("${refusal}"); pidvisor starts it once ${dependency} is running past its startGraceMs`);
      return 'ready';
    }
  }
}

function hasReadinessProbe(definition: Record<string, unknown>): boolean {
  return definition.readiness_probe !== undefined && definition.readiness_probe !== null;
}

function hasReadyLogLine(definition: Record<string, unknown>): boolean {
  return definition.ready_log_line !== undefined && definition.ready_log_line !== null && String(definition.ready_log_line) !== '';
}

/** validateNoCircularDependencies: process-compose refuses a cycle of depends_on. */
function refuseCycles(processes: Record<string, unknown>, file: string): void {
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = (name: string): boolean => {
    if (visiting.has(name)) return true;
    if (done.has(name) || !(name in processes)) return false;
    visiting.add(name);
    const dependsOn = ((processes[name] as Record<string, unknown>).depends_on ?? {}) as Record<string, unknown>;
    for (const dependency of Object.keys(dependsOn)) if (visit(dependency)) return true;
    visiting.delete(name);
    done.add(name);
    return false;
  };
  for (const name of Object.keys(processes)) if (visit(name)) throw new ImportError(`${file}: circular dependency found in '${name}'`);
}

/**
 * Where a setting is written: FILE:LINE of the deepest key of `keys` that the file has (the
 * process, when the setting itself is a default), or FILE.
 */
function locator(document: Document, lineCounter: LineCounter, file: string): (keys: readonly string[]) => string {
  return (keys) => {
    let node: unknown = document.contents;
    let offset: number | undefined;
    for (const key of keys) {
      if (!isMap(node)) break;
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === key);
      if (pair === undefined || !isScalar(pair.key)) break;
      offset = pair.key.range?.[0];
      node = pair.value;
    }
    return offset === undefined ? file : `${file}:${lineCounter.linePos(offset).line}`;
  };
}

/** command runs through the shell (bash -c); entrypoint, when there is no command, as it is. */
function commandOf(definition: Record<string, unknown>, shellCommand: string, shellArgument: string, file: string, entry: string): string[] {
  if (typeof definition.command === 'string' && definition.command !== '') return [shellCommand, shellArgument, definition.command];
  if (Array.isArray(definition.entrypoint) && definition.entrypoint.length > 0) return definition.entrypoint.map(String);
  throw new ImportError(`${file}: ${entry}: has neither command nor entrypoint`);
}

/** environment: a list of KEY=VALUE strings. */
function environmentList(value: unknown, file: string, entry: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!Array.isArray(value)) throw new ImportError(`${file}: ${entry}.environment must be a list of KEY=VALUE strings`);
  const env: Record<string, string> = {};
  for (const item of value) {
    const text = String(item);
    const equals = text.indexOf('=');
    if (equals <= 0) throw new ImportError(`${file}: ${entry}.environment: ${JSON.stringify(text)} is not KEY=VALUE`);
    env[text.slice(0, equals)] = text.slice(equals + 1);
  }
  return env;
}

/** The comment lines above each process in the file, by process name. */
function processComments(document: ReturnType<typeof parseDocument>): Map<string, string[]> {
  const comments = new Map<string, string[]>();
  const processes = isMap(document.contents) ? document.contents.get('processes', true) : null;
  if (!isMap(processes)) return comments;
  processes.items.forEach((pair, index) => {
    if (!isPair(pair) || !isScalar(pair.key)) return;
    // The parser gives a comment above the first entry to the mapping itself.
    const comment = pair.key.commentBefore ?? (index === 0 ? processes.commentBefore : undefined);
    if (comment !== undefined && comment !== null && comment.trim() !== '') comments.set(String(pair.key.value), comment.split('\n').map((line) => line.trim()));
  });
  return comments;
}
