// supervisord's INI as supervisord reads it (supervisor/options.py: read_config,
// process_groups_from_parser, _processes_from_section), turned into pidvisor services.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_RESTART_POLICY } from '../../daemon/restart-policy.js';
import type { ServiceSpec } from '../../daemon/spec.js';
import { ImportError, serviceName, type ImportedService, type ImportNote, type ImportResult } from '../result.js';
import { ExpansionError, expand, type Expansions } from './expand.js';
import { glob } from './glob.js';
import { IniDocument, IniSyntaxError, type IniSection, type IniValue } from './ini.js';
import { keyValuePairs, shlexSplit, ShlexError } from './shlex.js';

export interface SupervisordOptions {
  /** The environment %(ENV_X)s reads: supervisord's own at its start. */
  env?: NodeJS.ProcessEnv;
  /** %(host_node_name)s. */
  hostname?: string;
}

// Settings of [program:x] read and mapped here; any other is reported (supervisord ignores
// names it does not know, so a typo there is silently lost).
const PROGRAM_SETTINGS = new Set([
  'command', 'process_name', 'numprocs', 'numprocs_start', 'directory', 'umask', 'user', 'environment', 'autostart', 'autorestart',
  'startsecs', 'startretries', 'exitcodes', 'stopsignal', 'stopwaitsecs', 'stopasgroup', 'killasgroup', 'redirect_stderr',
  'stdout_logfile', 'stderr_logfile',
]);

// Known settings of [program:x] that pidvisor has no place for, and why.
const PROGRAM_UNMAPPED: Record<string, string> = {
  priority: 'a priority orders starts and stops but is no dependency (supervisord starts the next program without waiting for the last to run); pidvisor starts services in parallel unless `dependsOn` says one needs another: add it by hand where one does',
  serverurl: 'there is no supervisord XML-RPC server for the program to reach',
  stdout_logfile_maxbytes: "pidvisor rotates every service's captured output by size itself (<state-dir>/logs/)",
  stdout_logfile_backups: "pidvisor rotates every service's captured output by size itself (<state-dir>/logs/)",
  stderr_logfile_maxbytes: "pidvisor rotates every service's captured output by size itself (<state-dir>/logs/)",
  stderr_logfile_backups: "pidvisor rotates every service's captured output by size itself (<state-dir>/logs/)",
  stdout_capture_maxbytes: 'pidvisor has no capture mode or process communication events',
  stderr_capture_maxbytes: 'pidvisor has no capture mode or process communication events',
  stdout_events_enabled: 'pidvisor has no process communication events (its own events are state changes)',
  stderr_events_enabled: 'pidvisor has no process communication events (its own events are state changes)',
  stdout_syslog: 'pidvisor does not send output to syslog; `pidvisor logs NAME` reads it',
  stderr_syslog: 'pidvisor does not send output to syslog; `pidvisor logs NAME` reads it',
};

const DAEMON_SECTIONS: Record<string, string> = {
  unix_http_server: "pidvisor's API has its own socket: `pidvisor daemon --socket PATH`",
  inet_http_server: "pidvisor's API has its own TCP listener with a token: `pidvisor daemon --listen`",
  supervisorctl: 'the pidvisor CLI finds the daemon with --socket or $PIDVISOR_SOCKET',
};

const SUPERVISORD_SETTINGS: Record<string, string> = {
  environment: '',
  umask: "supervisord's umask, which programs with no umask inherit: a pidvisor service without `umask` gets the daemon's",
  directory: "supervisord's directory when it daemonizes, which programs with no directory inherit: a pidvisor service without `cwd` starts in the daemon's",
  user: "the user supervisord runs as: run `pidvisor daemon` as that user, or give each service `user`",
  minfds: "supervisord raises its own RLIMIT_NOFILE to this, which programs inherit: give services `rlimits: { nofile: N }`",
  minprocs: "supervisord raises its own RLIMIT_NPROC to this, which programs inherit: give services `rlimits: { nproc: N }`",
};

const TRUTHY = ['yes', 'true', 'on', '1'];
const FALSY = ['no', 'false', 'off', '0'];

interface Context {
  document: IniDocument;
  /** supervisord's environ_expansions: ENV_X for its environment and [supervisord] environment=. */
  environ: Record<string, string>;
  here: string;
  hostname: string;
  globalEnv: Record<string, string>;
  notes: ImportNote[];
  taken: Set<string>;
}

export function importSupervisord(file: string, options: SupervisordOptions = {}): ImportResult {
  const absolute = path.resolve(file);
  const here = path.dirname(absolute);
  const hostname = options.hostname ?? os.hostname();
  const environ: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.env ?? process.env)) if (value !== undefined) environ[`ENV_${key}`] = value;
  const document = new IniDocument();
  const notes: ImportNote[] = [];
  return guard(() => {
    document.read(readText(file), file);
    if (document.sections.has('include')) readIncludes(document, file, here, { here, host_node_name: hostname, ...environ }, notes);
    const context: Context = { document, environ, here, hostname, globalEnv: {}, notes, taken: new Set() };
    readSupervisordSection(context);
    return { format: 'supervisord', file, services: readPrograms(context), notes };
  });
}

function guard<T>(body: () => T): T {
  try {
    return body();
  } catch (error) {
    if (error instanceof IniSyntaxError || error instanceof ExpansionError || error instanceof ShlexError) throw new ImportError(error.message);
    throw error;
  }
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ImportError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

/**
 * [include] files=: whitespace-separated globs relative to the main file's directory, each
 * one's matches read in sorted order. %(here)s is the main file's directory, then, in each
 * included file's values, that file's (supervisord replaces it after reading each file).
 * Included files cannot include others: only the main file's [include] is read.
 */
function readIncludes(document: IniDocument, file: string, here: string, expansions: Expansions, notes: ImportNote[]): void {
  replaceHere(document, here);
  const files = document.get('include', 'files');
  if (files === undefined) throw new ImportError(`${file}: .ini file has [include] section, but no files setting`);
  const patterns = expand(files.value, expansions, 'include.files').split(/\s+/u).filter(Boolean);
  for (const pattern of patterns) {
    const full = path.join(here, pattern);
    const matches = glob(full).sort();
    if (matches.length === 0) notes.push({ kind: 'unmapped', at: at(files), entry: '[include]', setting: 'files', reason: `No file matches via include "${full}" (supervisord warns and goes on)` });
    for (const match of matches) {
      document.read(readText(match), match);
      replaceHere(document, path.dirname(path.resolve(match)));
    }
  }
}

function replaceHere(document: IniDocument, here: string): void {
  for (const [name, section] of document.sections) {
    for (const [option, value] of document.options(name)) {
      if (value.value.includes('%(here)s')) section.options.set(option, { ...value, value: value.value.replaceAll('%(here)s', here) });
    }
  }
}

function readSupervisordSection(context: Context): void {
  const { document, notes } = context;
  const section = document.sections.get('supervisord');
  if (section === undefined) return;
  for (const [option, value] of section.options) {
    const reason = SUPERVISORD_SETTINGS[option];
    if (reason === '') continue;
    notes.push({ kind: 'unmapped', at: at(value), entry: '[supervisord]', setting: option, reason: reason ?? 'a setting of supervisord itself; pidvisor daemon has its own options (`pidvisor daemon --help`)' });
  }
  const environment = document.get('supervisord', 'environment');
  if (environment === undefined) return;
  // Expanded twice, as supervisord does: once when read, once more as the environment.
  const once = expand(environment.value, { ...context.environ, here: context.here }, 'supervisord.environment');
  const twice = expand(once, { here: context.here, host_node_name: context.hostname, ...context.environ }, 'environment');
  context.globalEnv = pairs(twice, environment, '[supervisord]', notes);
  for (const [key, value] of Object.entries(context.globalEnv)) context.environ[`ENV_${key}`] = value;
}

function readPrograms(context: Context): ImportedService[] {
  const { document, notes } = context;
  const services: ImportedService[] = [];
  const inGroups = new Map<string, string>();
  for (const [name, section] of document.sections) {
    if (!name.startsWith('group:')) continue;
    const group = processOrGroupName(name.slice('group:'.length), section.file);
    const programs = document.get(name, 'programs')?.value ?? '';
    for (const program of programs === '' ? [] : programs.split(',').map((p) => p.trim())) {
      if (!document.sections.has(`program:${program}`)) {
        if (document.sections.has(`fcgi-program:${program}`)) continue;
        throw new ImportError(`${section.file}:${section.line}: [${name}] names unknown program or fcgi-program ${program}`);
      }
      inGroups.set(`program:${program}`, group);
    }
    for (const [option, value] of section.options) {
      if (option !== 'programs') notes.push({ kind: 'unmapped', at: at(value), entry: `[${name}]`, setting: option, reason: option === 'priority' ? PROGRAM_UNMAPPED.priority! : 'not a setting of [group:x]; supervisord ignores it' });
    }
  }
  for (const [name, section] of document.sections) {
    const kind = name.includes(':') ? name.slice(0, name.indexOf(':')) : name;
    if (kind === 'program') services.push(...programServices(context, name, inGroups.get(name)));
    else if (kind === 'fcgi-program') notes.push({ kind: 'unmapped', at: `${section.file}:${section.line}`, entry: `[${name}]`, setting: '(section)', reason: 'pidvisor does not open FastCGI sockets for a service; run the program as a service that listens itself' });
    else if (kind === 'eventlistener') notes.push({ kind: 'unmapped', at: `${section.file}:${section.line}`, entry: `[${name}]`, setting: '(section)', reason: "pidvisor has no event listener protocol; follow its events with `pidvisor events` or GET /v1/events" });
    else if (kind === 'rpcinterface' || kind === 'ctlplugin') notes.push({ kind: 'unmapped', at: `${section.file}:${section.line}`, entry: `[${name}]`, setting: '(section)', reason: 'pidvisor has no plugins; its HTTP API is fixed (GET /v1/openapi.json)' });
    else if (DAEMON_SECTIONS[kind] !== undefined) notes.push({ kind: 'unmapped', at: `${section.file}:${section.line}`, entry: `[${name}]`, setting: '(section)', reason: DAEMON_SECTIONS[kind]! });
    else if (kind !== 'group' && kind !== 'include' && kind !== 'supervisord') notes.push({ kind: 'unmapped', at: `${section.file}:${section.line}`, entry: `[${name}]`, setting: '(section)', reason: 'not a supervisord section; supervisord ignores it' });
  }
  return services;
}

/** A [program:x] read once, before its processes (the settings supervisord reads once). */
interface Program {
  section: string;
  entry: string;
  header: IniSection;
  group: string;
  heterogeneousGroup: string | undefined;
  /** supervisord's common expansions, which it updates for each process in turn. */
  common: Record<string, string | number>;
  raw(option: string): IniValue | undefined;
  /** The option's value expanded with the current expansions, or `fallback`. */
  get(option: string, fallback: string): string;
  refused(message: string, value?: IniValue): ImportError;
  autostart: boolean;
  policy: 'always' | 'on-failure' | 'no';
  startsecs: number;
  startretries: number;
  stopsignal: string | number;
  stopwaitsecs: number;
  stopasgroup: boolean;
  killasgroup: boolean;
  exitcodes: number[];
  redirectStderr: boolean;
  numprocs: number;
  numprocsStart: number;
  user: string | undefined;
  umask: number | undefined;
}

/** One service per process of a [program:x] (numprocs of them), as _processes_from_section. */
function programServices(context: Context, section: string, heterogeneousGroup: string | undefined): ImportedService[] {
  const program = readProgram(context, section, heterogeneousGroup);
  reportProgramSettings(context, program);
  const services: ImportedService[] = [];
  for (let processNum = program.numprocsStart; processNum < program.numprocsStart + program.numprocs; processNum++) services.push(processService(context, program, processNum));
  return services;
}

function readProgram(context: Context, section: string, heterogeneousGroup: string | undefined): Program {
  const { document } = context;
  const header = document.sections.get(section)!;
  const refused = (message: string, value?: IniValue): ImportError => new ImportError(`${value === undefined ? `${header.file}:${header.line}` : at(value)}: ${message} in section '${section}'`);
  const programName = processOrGroupName(section.slice('program:'.length), header.file);
  const group = heterogeneousGroup ?? programName;
  const common: Record<string, string | number> = { here: context.here, program_name: programName, host_node_name: context.hostname, group_name: group };
  const raw = (option: string): IniValue | undefined => document.get(section, option);
  const get = (option: string, fallback: string): string => {
    const value = raw(option);
    return value === undefined ? fallback : expand(value.value, { ...context.environ, ...common }, `${section}.${option}`);
  };
  const integer = (option: string, fallback: string): number => {
    const text = get(option, fallback).trim();
    if (!/^[-+]?\d+$/u.test(text)) throw refused(`invalid literal for int() with base 10: '${text}'`, raw(option));
    return Number(text);
  };
  const boolean = (option: string, fallback: string): boolean => {
    const text = get(option, fallback).toLowerCase();
    if (TRUTHY.includes(text)) return true;
    if (FALSY.includes(text)) return false;
    throw refused(`not a valid boolean value: '${text}'`, raw(option));
  };
  const autostart = boolean('autostart', 'true');
  const autorestart = get('autorestart', 'unexpected').toLowerCase();
  if (![...TRUTHY, ...FALSY, 'unexpected'].includes(autorestart)) throw refused(`invalid 'autorestart' value '${autorestart}'`, raw('autorestart'));
  const startsecs = integer('startsecs', '1');
  const startretries = integer('startretries', '3');
  const stopsignal = signalName(get('stopsignal', 'TERM'), raw('stopsignal'), refused);
  const stopwaitsecs = integer('stopwaitsecs', '10');
  const stopasgroup = boolean('stopasgroup', 'false');
  const killasgroup = boolean('killasgroup', stopasgroup ? 'true' : 'false');
  const exitcodes = exitCodes(get('exitcodes', '0'), raw('exitcodes'), refused);
  const redirectStderr = boolean('redirect_stderr', 'false');
  const numprocs = integer('numprocs', '1');
  const numprocsStart = integer('numprocs_start', '0');
  const user = raw('user') === undefined ? undefined : get('user', '');
  const umaskText = raw('umask') === undefined ? undefined : get('umask', '').trim();
  if (numprocs > 1 && !(raw('process_name')?.value ?? '').includes('%(process_num)')) throw refused('%(process_num) must be present within process_name when numprocs > 1', raw('process_name'));
  if (stopasgroup && !killasgroup) throw refused('Cannot set stopasgroup=true and killasgroup=false', raw('killasgroup'));
  if (umaskText !== undefined && !/^[0-7]+$/u.test(umaskText)) throw refused(`${umaskText} can not be converted to an octal type`, raw('umask'));
  return {
    section,
    entry: `[${section}]`,
    header,
    group,
    heterogeneousGroup,
    common,
    raw,
    get,
    refused,
    autostart,
    policy: TRUTHY.includes(autorestart) ? 'always' : autorestart === 'unexpected' ? 'on-failure' : 'no',
    startsecs,
    startretries,
    stopsignal,
    stopwaitsecs,
    stopasgroup,
    killasgroup,
    exitcodes,
    redirectStderr,
    numprocs,
    numprocsStart,
    user,
    umask: umaskText === undefined ? undefined : Number.parseInt(umaskText, 8),
  };
}

/** Notes about the program as a whole (once, not per process). */
function reportProgramSettings(context: Context, program: Program): void {
  const { notes } = context;
  const { entry, raw } = program;
  for (const [option, value] of context.document.options(program.section)) {
    if (value.value.includes('%(ENV_')) notes.push({ kind: 'approximated', at: at(value), entry, setting: option, reason: '%(ENV_X)s is expanded now, from the environment `pidvisor import` runs in (supervisord expands it from its own when it starts)' });
    if (PROGRAM_SETTINGS.has(option)) continue;
    notes.push({ kind: 'unmapped', at: at(value), entry, setting: option, reason: PROGRAM_UNMAPPED[option] ?? 'not a setting of [program:x]; supervisord ignores it' });
  }
  if (program.redirectStderr) notes.push({ kind: 'approximated', at: at(raw('redirect_stderr')!), entry, setting: 'redirect_stderr', reason: 'pidvisor keeps stdout and stderr in one log, each record tagged with its stream; `pidvisor logs NAME` shows both, interleaved' });
  if (program.redirectStderr && raw('stderr_logfile') !== undefined) notes.push({ kind: 'unmapped', at: at(raw('stderr_logfile')!), entry, setting: 'stderr_logfile', reason: 'redirect_stderr=true: supervisord ignores it too' });
  if (program.policy === 'no' && program.startretries > 0 && raw('autorestart') !== undefined) {
    notes.push({ kind: 'approximated', at: at(raw('autorestart')!), entry, setting: 'autorestart', reason: `supervisord still retries a start that exits within startsecs (up to startretries=${program.startretries} times); pidvisor with restart policy "no" does not` });
  }
  if (program.killasgroup && !program.stopasgroup) notes.push({ kind: 'approximated', at: at(raw('killasgroup')!), entry, setting: 'killasgroup', reason: 'pidvisor sends the stop signal to the process group as well (killMode group), not only its SIGKILL' });
}

function processService(context: Context, program: Program, processNum: number): ImportedService {
  const { notes } = context;
  const { common, raw, get, entry, header } = program;
  const first = processNum === program.numprocsStart;
  // supervisord's expansions for this process: its common ones, updated with the process
  // number, then with the environment (which undoes the ENV_X that the previous process's
  // environment= set), then with this process's environment= as ENV_X.
  Object.assign(common, { process_num: processNum, numprocs: program.numprocs }, context.environ);
  const environmentValue = raw('environment');
  const environment = environmentValue === undefined ? {} : pairs(expand(environmentValue.value, { ...common }, 'environment'), environmentValue, entry, first ? notes : []);
  for (const [key, value] of Object.entries(environment)) common[`ENV_${key}`] = value;
  const directory = raw('directory') === undefined ? undefined : get('directory', '');
  const stdout = logDestination(context, program, 'stdout', first);
  // Redirected, stderr goes wherever stdout goes (supervisord ignores stderr_logfile then).
  const stderr = program.redirectStderr ? stdout : logDestination(context, program, 'stderr', first);
  const commandValue = raw('command');
  if (commandValue === undefined) throw program.refused(`program section ${program.section} does not specify a command`);
  const commandText = get('command', '');
  let command: string[];
  try {
    command = shlexSplit(commandText);
  } catch (error) {
    throw program.refused(`can't parse command '${commandText}': ${(error as Error).message}`, commandValue);
  }
  if (command.length === 0) throw program.refused('command is empty', commandValue);
  const processName = processOrGroupName(expand(raw('process_name')?.value ?? '%(program_name)s', { ...context.environ, ...common }, 'process_name'), header.file);
  const wanted = program.heterogeneousGroup === undefined ? processName : `${program.heterogeneousGroup}.${processName}`;
  const name = serviceName(wanted, context.taken, (reason) => notes.push({ kind: 'approximated', at: `${header.file}:${header.line}`, entry, setting: 'process_name', reason }));
  context.taken.add(name);
  const { user, umask, policy, startsecs, startretries } = program;
  const spec: Omit<ServiceSpec, 'name'> = {
    command,
    env: { ...context.globalEnv, ...environment, SUPERVISOR_PROCESS_NAME: processName, SUPERVISOR_GROUP_NAME: program.group },
    ...(directory === undefined ? {} : { cwd: directory }),
    ...(user === undefined ? {} : { user: /^\d+$/u.test(user) ? Number(user) : user }),
    ...(umask === undefined ? {} : { umask }),
    ...(stdout === 'null' ? { stdout } : {}),
    ...(stderr === 'null' ? { stderr } : {}),
    restart: {
      policy,
      ...(policy === 'on-failure' ? { successCodes: program.exitcodes } : {}),
      maxRestarts: startretries,
      windowMs: retryWindowMs(startretries, startsecs),
      resetAfterMs: Math.max(1, startsecs) * 1000,
    },
    startGraceMs: Math.min(startsecs * 1000, 3_600_000),
    stopSignal: program.stopsignal,
    stopTimeoutMs: Math.min(program.stopwaitsecs * 1000, 3_600_000),
    killMode: program.stopasgroup || program.killasgroup ? 'group' : 'process',
    labels: { group: program.group },
    ...(program.autostart ? {} : { autostart: false }),
  };
  const comments = [...(first ? header.comments : []), `from ${entry} in ${header.file}${program.numprocs > 1 ? ` (process ${processNum} of numprocs=${program.numprocs})` : ''}`];
  if (spec.killMode === 'process') comments.push('killMode process: the stop signal reaches the main process only (supervisord stopasgroup=false); cgroup would end everything it started');
  return { name, spec, comments };
}

/** stdout_logfile / stderr_logfile: NONE discards the stream; a path or syslog is reported (once). */
function logDestination(context: Context, program: Program, stream: 'stdout' | 'stderr', report: boolean): 'capture' | 'null' {
  const value = program.raw(`${stream}_logfile`);
  if (value === undefined) return 'capture';
  // Expanded twice, as supervisord does (once when read, once as a log file name).
  const name = expand(program.get(`${stream}_logfile`, ''), { ...context.environ, ...program.common }, `${stream}_logfile`);
  const lowered = name.toLowerCase();
  if (lowered === 'none' || lowered === 'off') return 'null';
  if (lowered !== 'auto' && report) {
    const reason = lowered === 'syslog' ? 'pidvisor does not send output to syslog; `pidvisor logs NAME` reads it' : `pidvisor writes captured output to <state-dir>/logs/ (CRI format, rotated), not to ${JSON.stringify(name)}; read it with \`pidvisor logs NAME\``;
    context.notes.push({ kind: 'unmapped', at: at(value), entry: program.entry, setting: `${stream}_logfile`, reason });
  }
  return 'capture';
}

/**
 * supervisord gives up on a program after startretries starts in a row that each exit within
 * startsecs; pidvisor after maxRestarts restarts within windowMs. The window is the time
 * those quick failures take under pidvisor's backoff (longest delays, with jitter), so the
 * same burst fails the service, while instances that ran longer than startsecs mostly fall
 * out of it.
 */
function retryWindowMs(startretries: number, startsecs: number): number {
  const policy = DEFAULT_RESTART_POLICY;
  let delays = 0;
  for (let attempt = 0; attempt < startretries; attempt++) delays += Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** attempt) * (1 + policy.jitter);
  return Math.max(1000, Math.ceil((delays + startretries * startsecs * 1000) / 1000) * 1000);
}

function pairs(text: string, value: IniValue, entry: string, notes: ImportNote[]): Record<string, string> {
  try {
    const result = keyValuePairs(text);
    for (const skipped of result.skipped) notes.push({ kind: 'approximated', at: at(value), entry, setting: 'environment', reason: `supervisord reads ${JSON.stringify(skipped)} where it expects a ',' and drops it (quote a value that has spaces: KEY="a b"); the import does the same` });
    return result.pairs;
  } catch (error) {
    throw new ImportError(`${at(value)}: ${entry} environment: ${(error as Error).message}`);
  }
}

const SIGNALS = ['HUP', 'INT', 'QUIT', 'ILL', 'TRAP', 'ABRT', 'IOT', 'BUS', 'FPE', 'KILL', 'USR1', 'SEGV', 'USR2', 'PIPE', 'ALRM', 'TERM', 'STKFLT', 'CHLD', 'CONT', 'STOP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'XCPU', 'XFSZ', 'VTALRM', 'PROF', 'WINCH', 'IO', 'POLL', 'PWR', 'SYS'];

/** signal_number(): a number, or a name with or without SIG, any case. */
function signalName(text: string, value: IniValue | undefined, where: (message: string, value?: IniValue) => ImportError): string | number {
  const trimmed = text.trim();
  if (/^\d+$/u.test(trimmed)) {
    const number = Number(trimmed);
    if (number < 1 || number > 64) throw where(`value '${text}' is not a valid signal number`, value);
    return number;
  }
  const name = trimmed.toUpperCase().replace(/^SIG/u, '');
  if (!SIGNALS.includes(name)) throw where(`value '${text}' is not a valid signal name`, value);
  return `SIG${name}`;
}

function exitCodes(text: string, value: IniValue | undefined, where: (message: string, value?: IniValue) => ImportError): number[] {
  if (text === '') return [];
  const codes = text.split(',').map((part) => part.trim());
  if (codes.some((code) => !/^[-+]?\d+$/u.test(code) || Number(code) < 0 || Number(code) > 255)) throw where(`not a valid list of exit codes: '${text}'`, value);
  return codes.map(Number);
}

/** process_or_group_name(): stripped; a space, ':' or '/' is refused. */
function processOrGroupName(name: string, file: string): string {
  const stripped = name.trim();
  const bad = [' ', ':', '/'].find((char) => stripped.includes(char));
  if (bad !== undefined) throw new ImportError(`${file}: Invalid name: '${name}' because of character: '${bad}'`);
  return stripped;
}

function at(value: IniValue): string {
  return `${value.file}:${value.line}`;
}
