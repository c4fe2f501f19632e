// PM2 ecosystem apps as PM2 reads them (lib/API.js _startJson, lib/Common.js verifyConfs and
// prepareAppConf, lib/tools/Config.js validateJSON with lib/API/schema.json, lib/God.js
// handleExit for restarts), turned into pidvisor services.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ServiceSpec } from '../../daemon/spec.js';
import { ImportError, serviceName, type ImportedService, type ImportNote, type ImportResult } from '../result.js';
import { loadEcosystem } from './load.js';

export interface Pm2Options {
  /** `pm2 start FILE --env NAME`: env_NAME is merged over env. */
  envName?: string;
  /** Relative cwd and script paths resolve against it, as against `pm2 start`'s directory. */
  cwd?: string;
  /** The PATH used to find a script that is a command (PM2's which()). */
  env?: NodeJS.ProcessEnv;
  /** For kind detection of a file whose name PM2 would not take (`--from pm2`). */
  kind?: 'json' | 'yaml' | 'js' | 'mjs';
}

// Options read here (lib/API/schema.json names); UNMAPPED below lists the others PM2 knows.
const MAPPED = [
  'script', 'name', 'args', 'exec_interpreter', 'node_args', 'cwd', 'env', 'instances', 'exec_mode', 'autorestart', 'autostart',
  'max_restarts', 'min_uptime', 'restart_delay', 'exp_backoff_restart_delay', 'kill_timeout', 'stop_exit_codes', 'uid', 'gid',
  'treekill', 'instance_var', 'increment_var', 'port', 'filter_env', 'namespace',
];

// The aliases schema.json gives (and cmd and command, which verifyConfs takes for script).
const EXPLICIT_ALIASES: Record<string, string[]> = {
  script: ['exec', 'cmd', 'command'],
  exec_interpreter: ['interpreter'],
  node_args: ['interpreterArgs', 'interpreter_args'],
  out_file: ['out', 'output', 'out_log'],
  error_file: ['error', 'err', 'err_file', 'err_log'],
  log_file: ['log'],
  pid_file: ['pid'],
  cron_restart: ['cron'],
  merge_logs: ['combine_logs'],
  uid: ['user'],
};

/** Every name PM2 takes for an option: itself, its aliases, and the camelCase form PM2 derives for each (lib/tools/Config.js). */
function namesOf(option: string): string[] {
  const camel = option
    .split('_')
    .map((part, index) => (index !== 0 && part.length > 1 ? part[0]!.toUpperCase() + part.slice(1) : part))
    .join('');
  return [...new Set([option, ...(EXPLICIT_ALIASES[option] ?? []), camel])];
}

// Known PM2 options pidvisor has no place for, and why.
const UNMAPPED: Record<string, string> = {
  out_file: 'pidvisor writes captured output to <state-dir>/logs/ (CRI format, rotated); read it with `pidvisor logs NAME`',
  error_file: 'pidvisor writes captured output to <state-dir>/logs/ (CRI format, rotated); read it with `pidvisor logs NAME`',
  log_file: 'pidvisor writes captured output to <state-dir>/logs/ (CRI format, rotated); read it with `pidvisor logs NAME`',
  pid_file: 'pidvisor writes no pid files: `pidvisor status NAME --json` has the pid',
  merge_logs: 'pidvisor keeps one log per service',
  log_date_format: 'every log record of pidvisor has its time (RFC 3339)',
  time: 'every log record of pidvisor has its time (RFC 3339)',
  log_type: 'pidvisor logs are in the CRI format (`pidvisor logs NAME --json` for JSON)',
  disable_logs: 'pidvisor always captures; `stdout: null` / `stderr: null` discard a stream',
  watch: 'pidvisor does not restart on file changes',
  ignore_watch: 'pidvisor does not restart on file changes',
  watch_options: 'pidvisor does not restart on file changes',
  watch_delay: 'pidvisor does not restart on file changes',
  max_memory_restart: 'pidvisor does not restart on memory use; `rlimits: { as: N }` limits it instead',
  cron_restart: 'pidvisor has no scheduled restarts',
  // God.js: with wait_ready, `pm2 start` and `pm2 reload` answer once the app's
  // process.send('ready') arrives or listen_timeout (3000 ms) passes; supervision is the same.
  wait_ready:
    "PM2 waits for the app's process.send('ready') on Node's IPC channel (or listen_timeout); pidvisor gives services no IPC channel: the service is ready after startGraceMs, or add `readiness` by hand (an http or tcp probe, or `notify: true` if the app can send sd_notify READY=1)",
  listen_timeout: "PM2 waits this long for process.send('ready') (wait_ready) or for a cluster worker to listen; pidvisor has neither: see `readiness`",
  shutdown_with_message: "pidvisor stops with a signal, not Node's process.send('shutdown')",
  kill_retry_time: 'pidvisor sends SIGKILL once, after stopTimeoutMs',
  source_map_support: "PM2's own Node wrapper; pidvisor runs the script directly",
  disable_source_map_support: "PM2's own Node wrapper; pidvisor runs the script directly",
  vizion: 'pidvisor keeps no version control metadata',
  post_update: 'pidvisor keeps no version control metadata',
  pmx: 'PM2.io monitoring',
  automation: 'PM2.io monitoring',
  trace: 'PM2.io monitoring',
  disable_trace: 'PM2.io monitoring',
  v8: 'PM2.io monitoring',
  event_loop_inspector: 'PM2.io monitoring',
  deep_monitoring: 'PM2.io monitoring',
  force: 'pidvisor names are unique; a second copy is a second service',
  append_env_to_name: 'names are as imported; rename the service in the output',
  name_prefix: 'names are as imported; rename the service in the output',
  install_url: 'PM2 modules',
  execute_command: 'the script is run as it is',
  windowsHide: 'Windows only',
  write: 'PM2 internal',
  io: 'PM2.io monitoring',
  username: 'PM2 internal: set `user` instead',
};

/** Every name PM2 recognises for an option (anything else PM2 drops without a word). */
const KNOWN = new Set([...MAPPED, ...Object.keys(UNMAPPED)].flatMap(namesOf));

type Note = (kind: ImportNote['kind'], setting: string, reason: string) => void;

const INTERPRETERS: Record<string, string> = { '.sh': 'bash', '.py': 'python', '.rb': 'ruby', '.php': 'php', '.pl': 'perl', '.js': 'node', '.coffee': 'coffee', '.ls': 'lsc', '.ts': 'bun', '.tsx': 'bun' };

export function importPm2(file: string, options: Pm2Options = {}): ImportResult {
  const config = loadEcosystem(file, options.kind);
  if (typeof config !== 'object' || config === null) throw new ImportError(`${file}: PM2 expects an object with "apps" (or an app, or a list of apps), got ${config === null ? 'nothing' : typeof config}`);
  const record = config as Record<string, unknown>;
  let apps: unknown = record.apps ?? record.pm2 ?? config;
  if (!Array.isArray(apps)) apps = [apps];
  const notes: ImportNote[] = [];
  for (const key of ['deploy', 'static']) {
    if (record[key] !== undefined) notes.push({ kind: 'unmapped', at: file, entry: key, setting: key, reason: key === 'deploy' ? 'pidvisor does not deploy: install the code, then load the config' : "PM2's static file server; run a web server as a service" });
  }
  const taken = new Set<string>();
  const services: ImportedService[] = [];
  (apps as unknown[]).forEach((app, index) => services.push(...appServices(app, index, file, options, notes, taken)));
  return { format: 'pm2', file, services, notes };
}

function appServices(input: unknown, index: number, file: string, options: Pm2Options, notes: ImportNote[], taken: Set<string>): ImportedService[] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ImportError(`${file}: apps[${index}] is not an object`);
  const app = input as Record<string, unknown>;
  const pick = (option: string): unknown => {
    for (const alias of namesOf(option)) if (app[alias] !== undefined && app[alias] !== null) return app[alias];
    return undefined;
  };
  const scriptSetting = pick('script');
  if (typeof scriptSetting !== 'string' || scriptSetting === '') throw new ImportError(`${file}: apps[${index}]: No script path - aborting`);
  let script = scriptSetting;
  let name = typeof pick('name') === 'string' ? (pick('name') as string) : defaultName(script);
  const entry = `apps[${index}] (${name})`;
  const note: Note = (kind, setting, reason) => void notes.push({ kind, at: file, entry, setting, reason });

  let args = splitArgs(pick('args'));
  // A script with a space is a shell command line: PM2 runs it with bash -c (and drops args).
  if (script.includes(' ')) {
    if (typeof app.name !== 'string') name = script;
    args = ['-c', script];
    script = 'bash';
  }
  const baseDir = options.cwd ?? process.cwd();
  const cwdSetting = pick('cwd');
  const cwd = typeof cwdSetting === 'string' ? path.resolve(baseDir, cwdSetting) : baseDir;
  const execPath = resolveScript(script, cwd, options.env ?? process.env);
  if (execPath === null) note('approximated', 'script', `not found as ${path.resolve(cwd, script)} nor on PATH (PM2 refuses to start it: "Script not found"); kept as ${JSON.stringify(script)}`);
  const command = commandLine(pick('exec_interpreter'), execPath ?? script, splitArgs(pick('node_args')), args, options.env ?? process.env, note);

  const env = environment(app, options.envName, file, entry, notes);
  const user = pick('uid');
  const group = pick('gid');
  // PM2 sets HOME to the user's home directory (lib/Common.js verifyConfs), and refuses an unknown user.
  if (user !== undefined) {
    const home = homeOf(String(user));
    if (home === null) throw new ImportError(`${file}: ${entry}: User ${String(user)} cannot be found`);
    env.HOME = home;
  }
  const port = pick('port');
  if (port !== undefined) env.PORT = String(port);
  const filterEnv = pick('filter_env');
  if (filterEnv !== undefined && filterEnv !== true && filterEnv !== false) note('unmapped', 'filter_env', 'pidvisor passes the daemon environment whole, or none of it (`clearEnv: true`, which filter_env: true maps to)');

  reportUnmapped(app, note);
  const discards = (option: string): boolean => namesOf(option).some((alias) => app[alias] === '/dev/null' || app[alias] === 'NULL');

  const minUptime = duration(pick('min_uptime'), 1000, file, entry);
  const restart = restartPolicy(pick, minUptime, note);
  const killTimeout = numberOption(pick('kill_timeout'), 'kill_timeout', file, entry);
  const namespace = pick('namespace');
  const spec: Omit<ServiceSpec, 'name'> = {
    command,
    ...(Object.keys(env).length === 0 ? {} : { env }),
    ...(filterEnv === true ? { clearEnv: true } : {}),
    cwd,
    ...(user === undefined ? {} : { user: typeof user === 'number' ? user : String(user) }),
    ...(group === undefined ? {} : { group: typeof group === 'number' ? group : String(group) }),
    ...(discards('out_file') ? { stdout: 'null' as const } : {}),
    ...(discards('error_file') ? { stderr: 'null' as const } : {}),
    restart,
    startGraceMs: Math.min(minUptime, 3_600_000),
    // PM2 stops with SIGINT (PM2_KILL_SIGNAL), then SIGKILL after kill_timeout.
    stopSignal: process.env.PM2_KILL_SIGNAL ?? 'SIGINT',
    stopTimeoutMs: Math.min(killTimeout ?? 1600, 3_600_000),
    ...(pick('treekill') === false ? { killMode: 'process' as const } : {}),
    ...(typeof namespace === 'string' ? { labels: { namespace } } : {}),
    ...(pick('autostart') === false ? { autostart: false } : {}),
  };

  const count = instanceCount(pick('instances'), file, entry);
  if (pick('instances') === 'max' || Number(pick('instances')) <= 0) note('approximated', 'instances', `${String(pick('instances'))} is resolved now, on this machine: ${count} CPUs`);
  const execMode = String(pick('exec_mode') ?? '');
  const clustered = execMode.startsWith('cluster') || (execMode === '' && app.instances !== undefined && (command[0] === process.execPath || command[0] === 'node'));
  if (clustered) note('approximated', 'exec_mode', "PM2's cluster mode shares one listening socket between instances through Node's cluster module; pidvisor starts separate processes, which can share a port only with SO_REUSEPORT");
  const label = `from ${entry} in ${file}${options.envName === undefined ? '' : ` with --env ${options.envName}`}`;
  return instanceServices(spec, name, count, String(pick('instance_var') ?? 'NODE_APP_INSTANCE'), pick('increment_var'), label, taken, note);
}

/** Options PM2 drops (not in its schema) and PM2 options pidvisor has no place for. */
function reportUnmapped(app: Record<string, unknown>, note: Note): void {
  for (const key of Object.keys(app)) {
    if (/^env_\S*$/u.test(key)) continue;
    if (!KNOWN.has(key)) note('unmapped', key, 'not a PM2 option; PM2 drops it');
  }
  for (const [option, reason] of Object.entries(UNMAPPED)) {
    const setting = namesOf(option).find((alias) => app[alias] !== undefined && app[alias] !== false);
    if (setting === undefined) continue;
    // A log file of /dev/null is mapped: the stream is discarded.
    if ((option === 'out_file' || option === 'error_file') && (app[setting] === '/dev/null' || app[setting] === 'NULL')) continue;
    note('unmapped', setting, reason);
  }
}

/** The app's `count` instances, NAME-0, NAME-1, ... when more than one. */
function instanceServices(spec: Omit<ServiceSpec, 'name'>, name: string, count: number, instanceVar: string, incrementVar: unknown, label: string, taken: Set<string>, note: Note): ImportedService[] {
  const services: ImportedService[] = [];
  for (let instance = 0; instance < count; instance++) {
    const env: Record<string, string> = { ...spec.env };
    // PM2 gives every instance its number (God.injectVariables), 0 for a single one: apps elect a leader with it.
    env[instanceVar] = String(instance);
    if (typeof incrementVar === 'string') env[incrementVar] = String(Number(spec.env?.[incrementVar] ?? 0) + instance);
    const serviceNameFor = serviceName(count > 1 ? `${name}-${instance}` : name, taken, (reason) => note('approximated', 'name', reason));
    taken.add(serviceNameFor);
    services.push({ name: serviceNameFor, spec: { ...spec, env }, comments: [`${label}${count > 1 ? ` (instance ${instance} of ${count})` : ''}`] });
  }
  return services;
}

/**
 * handleExit: no restart when autorestart is false or the code is in stop_exit_codes (0 is
 * restarted unless listed); a restart after restart_delay, or exp_backoff_restart_delay
 * growing 1.5 times to 15 s and reset after 30 s up; errored after max_restarts exits that
 * each came within min_uptime, counted while the app is younger than min_uptime x
 * max_restarts: that product is pidvisor's window.
 */
function restartPolicy(pick: (option: string) => unknown, minUptime: number, note: Note): NonNullable<ServiceSpec['restart']> {
  const autorestart = pick('autorestart');
  const stopCodes = pick('stop_exit_codes');
  const codes = stopCodes === undefined ? undefined : ([] as unknown[]).concat(stopCodes).map((code) => Number.parseInt(String(code), 10));
  if (codes?.some((code) => !Number.isInteger(code) || code < 0 || code > 255)) note('approximated', 'stop_exit_codes', 'codes outside 0-255 can never be exit codes and were left out');
  const validCodes = codes?.filter((code) => Number.isInteger(code) && code >= 0 && code <= 255);
  const maxRestarts = Number(pick('max_restarts') ?? 16);
  const windowMs = Math.max(1, minUptime * Math.max(1, maxRestarts));
  const policy = autorestart === false || autorestart === 'false' ? 'no' : validCodes === undefined ? 'always' : 'on-failure';
  const exponential = pick('exp_backoff_restart_delay');
  const fixed = pick('restart_delay');
  const backoff =
    exponential !== undefined && !Number.isNaN(Number.parseInt(String(exponential), 10))
      ? { initialDelayMs: clampDelay(Number.parseInt(String(exponential), 10)), multiplier: 1.5, maxDelayMs: Math.max(15_000, clampDelay(Number.parseInt(String(exponential), 10))), jitter: 0, resetAfterMs: 30_000 }
      : { initialDelayMs: clampDelay(Number.parseInt(String(fixed ?? 0), 10) || 0), multiplier: 1, maxDelayMs: Math.max(clampDelay(Number.parseInt(String(fixed ?? 0), 10) || 0), 0), jitter: 0, resetAfterMs: Math.max(1, minUptime) };
  if (exponential !== undefined && fixed !== undefined) note('approximated', 'restart_delay', 'exp_backoff_restart_delay wins over restart_delay, as in PM2');
  return {
    policy,
    ...(policy === 'on-failure' ? { successCodes: validCodes! } : {}),
    ...backoff,
    maxRestarts: Math.min(Math.max(0, Math.trunc(maxRestarts)), 1_000_000),
    windowMs,
  };
}

/** env, then env_NAME over it with --env NAME; object values become JSON, as PM2 does. */
function environment(app: Record<string, unknown>, envName: string | undefined, file: string, entry: string, notes: ImportNote[]): Record<string, string> {
  const env: Record<string, string> = {};
  const add = (source: unknown, setting: string): void => {
    if (source === undefined || source === null) return;
    if (typeof source !== 'object' || Array.isArray(source)) {
      notes.push({ kind: 'unmapped', at: file, entry, setting, reason: 'not an object of variables' });
      return;
    }
    for (const [key, value] of Object.entries(source)) {
      if (value === undefined) continue;
      env[key] = typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
    }
  };
  add(app.env, 'env');
  if (envName !== undefined) {
    if (app[`env_${envName}`] === undefined) notes.push({ kind: 'approximated', at: file, entry, setting: `env_${envName}`, reason: `Environment [${envName}] is not defined in process file (PM2 warns too); env alone was used` });
    add(app[`env_${envName}`], `env_${envName}`);
  }
  for (const key of Object.keys(app)) {
    if (/^env_\S+$/u.test(key) && key !== `env_${envName}`) notes.push({ kind: 'unmapped', at: file, entry, setting: key, reason: `used only with --env ${key.slice(4)}` });
  }
  return env;
}

/**
 * [interpreter, ...interpreter args, script, ...args], or the script itself with 'none'.
 * PM2 picks the interpreter by extension (lib/API/interpreter.json: 'node' for .js, looked
 * up on PATH when the process starts), runs a file with no known extension itself when it is
 * binary, else with the Node PM2 runs on.
 */
function commandLine(interpreter: unknown, script: string, interpreterArgs: string[], args: string[], env: NodeJS.ProcessEnv, note: Note): string[] {
  let chosen = typeof interpreter === 'string' && interpreter !== '' ? interpreter : null;
  if (chosen === null) {
    const byExtension = INTERPRETERS[path.extname(script)];
    if (byExtension === 'bun' && which('bun', env) === null) {
      note('approximated', 'script', 'PM2 runs TypeScript with bun, or with Node >= 22.18 (type stripping) when bun is missing: the import uses node');
      chosen = 'node';
    } else if (byExtension === 'python') chosen = which('python', env) === null && which('python3', env) !== null ? 'python3' : 'python';
    else if (byExtension !== undefined) chosen = byExtension;
    else chosen = isBinary(script) ? 'none' : process.execPath;
  }
  return chosen === 'none' ? [script, ...args] : [chosen, ...interpreterArgs, script, ...args];
}

/** pm_exec_path: the script resolved against cwd, else found on PATH; null when neither. */
function resolveScript(script: string, cwd: string, env: NodeJS.ProcessEnv): string | null {
  const resolved = path.resolve(cwd, script);
  if (fs.existsSync(resolved)) return resolved;
  return which(script, env);
}

function which(command: string, env: NodeJS.ProcessEnv): string | null {
  if (command.includes('/')) return null;
  for (const directory of (env.PATH ?? '').split(':')) {
    if (directory === '') continue;
    const candidate = path.join(directory, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** PM2's isbinaryfile, in short: a NUL byte in the first 512 bytes. */
function isBinary(file: string): boolean {
  let descriptor: number | null = null;
  try {
    descriptor = fs.openSync(file, 'r');
    const buffer = Buffer.alloc(512);
    const length = fs.readSync(descriptor, buffer, 0, 512, 0);
    return buffer.subarray(0, length).includes(0);
  } catch {
    return false;
  } finally {
    if (descriptor !== null) fs.closeSync(descriptor);
  }
}

/** args given as a string: PM2's split (quoted words kept whole, quotes removed). */
export function splitArgs(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.map(String);
  const text = String(value);
  return (text.match(/[^\s"'=]+="[^"]*"|[^\s"'=]+='[^']*'|"([^"]*)"|'([^']*)'|\S+/gu) ?? [])
    .map((word) => ((word.startsWith('"') && word.endsWith('"')) || (word.startsWith("'") && word.endsWith("'")) ? word.slice(1, -1) : word))
    .filter((word) => word.trim() !== '');
}

/** min_uptime: milliseconds, or a number with h, m or s. */
function duration(value: unknown, fallback: number, file: string, entry: string): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number') return value;
  const match = /^(\d+)(h|m|s)?$/u.exec(String(value));
  if (match === null) throw new ImportError(`${file}: ${entry}: min_uptime: it should be a NUMBER - milliseconds, "[NUMBER]h"(hours), "[NUMBER]m"(minutes) or "[NUMBER]s"(seconds)`);
  return Number(match[1]) * (match[2] === 'h' ? 3_600_000 : match[2] === 'm' ? 60_000 : match[2] === 's' ? 1000 : 1);
}

function numberOption(value: unknown, option: string, file: string, entry: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0) throw new ImportError(`${file}: ${entry}: ${option} must be a number of milliseconds`);
  return Math.trunc(number);
}

/** instances: a number, 'max' (0) = one per CPU, -N = CPUs less N; PM2 starts at least one. */
function instanceCount(value: unknown, file: string, entry: string): number {
  if (value === undefined) return 1;
  const cpus = os.availableParallelism();
  const number = value === 'max' ? 0 : typeof value === 'string' ? Number.parseInt(value, 10) || 0 : Number(value);
  if (!Number.isFinite(number)) throw new ImportError(`${file}: ${entry}: instances must be a number or "max"`);
  if (number === 0) return cpus;
  if (number < 0) return Math.max(1, cpus + number);
  return Math.min(number, 1000);
}

function clampDelay(ms: number): number {
  return Math.min(Math.max(0, ms), 3_600_000);
}

/** The home directory of a user name (PM2 looks up names only, in /etc/passwd). */
function homeOf(user: string): string | null {
  let passwd: string;
  try {
    passwd = fs.readFileSync('/etc/passwd', 'utf8');
  } catch {
    return null;
  }
  const entry = passwd.split('\n').map((line) => line.split(':')).find((fields) => fields[0] === user);
  return entry?.[5] ?? null;
}

function defaultName(script: string): string {
  const base = path.basename(script);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}
