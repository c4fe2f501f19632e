// spawn(): start a program as a child named by a pidfd from its first instant.
// This module turns friendly options into the addon's flat request (PATH search, stdio
// plan, rlimit names, credentials policy) and owns every fd it makes until the spawn has
// either succeeded or been fully undone.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { RawClonedChild, RawErrnoError, RawSpawnArgs, RawSpawnRequest } from './binding.js';
import { binding } from './load.js';
import { SpawnError } from './errors.js';
import { PipeReader } from './pipe-reader.js';
import { ProcessRef, START_WATCH } from './process-ref.js';
import { OP_CLONED, OP_SPAWN, RAW_CLONE_METHOD, RAW_KILL_AND_REAP } from './raw-keys.js';
import { signalNumber, type SignalLike } from './signals.js';

/**
 * What a child's fd 0, 1 or 2 is: the daemon's own, /dev/null, a new pipe, or an fd the caller
 * owns. 'reader' (fd 1 and 2 only) is a new pipe whose daemon end is a PipeReader
 * (native/pipe-reader.ts) rather than a net.Socket: what output capture reads.
 */
export type StdioOption = 'inherit' | 'null' | 'pipe' | 'reader' | { fd: number };

export const RLIMITS = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7,
  memlock: 8, as: 9, locks: 10, sigpending: 11, msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
} as const;
export type RlimitName = keyof typeof RLIMITS;
export type RlimitValue = number | 'unlimited';
export type Rlimit = RlimitValue | { soft: RlimitValue; hard: RlimitValue };

export interface SpawnOptions {
  /** A path, or a name looked up on PATH (the child's PATH when `env` has one). */
  command: string;
  args?: readonly string[];
  /** argv[0] as the program sees it; defaults to `command`. */
  argv0?: string;
  /**
   * The whole environment of the child; defaults to process.env as the calling thread sees it
   * at the spawn (a worker thread's own process.env in a worker, as with child_process).
   */
  env?: Readonly<Record<string, string>> | PreparedEnvironment;
  cwd?: string;
  uid?: number;
  /** Required with `uid` so a child never keeps the daemon's group by accident. */
  gid?: number;
  /** Supplementary groups; when root starts a child as another user and this is absent, the child gets none. */
  groups?: readonly number[];
  umask?: number;
  rlimits?: Partial<Record<RlimitName, Rlimit>>;
  /** 'session': setsid (the child leads a new session and process group); 'group': setpgid. */
  detach?: 'none' | 'session' | 'group';
  /**
   * With detach 'group': the new group becomes the foreground group of the terminal that is the
   * child's own fd 0 (if it is the controlling terminal; otherwise nothing happens), so an
   * interactive child can read it without being stopped by SIGTTIN.
   */
  foregroundTerminal?: boolean;
  /** fd 0, 1, 2; default ['null', 'inherit', 'inherit']. */
  stdio?: readonly [StdioOption, StdioOption, StdioOption];
  /** Further fds the child gets as 3, 4, ...; the caller keeps ownership of these. At most 1,024 fds with stdio. */
  extraFds?: readonly number[];
  /** A cgroup v2 directory to start the child in (CLONE_INTO_CGROUP, Linux 5.7). */
  cgroup?: string;
  /** Signal the child gets when the daemon's thread that spawned it dies. */
  parentDeathSignal?: SignalLike;
  noNewPrivileges?: boolean;
  /**
   * The signal configuration the program starts with. By default every signal has its default
   * action and none is blocked, as a shell starts a command (whatever the daemon itself ignores
   * or handles). `pidvisor init` passes on what it inherited, as tini does. SIGKILL and SIGSTOP
   * can be neither ignored nor blocked.
   */
  signals?: { ignored?: readonly SignalLike[]; blocked?: readonly SignalLike[] };
  /** Which clone to use; 'auto' takes clone3 unless seccomp blocks it. For tests and diagnosis. */
  method?: 'auto' | 'clone3' | 'clone';
  /**
   * Runs synchronously when the child has exited but is not yet reaped: its pid, and the
   * process group it led, cannot have been reused, so signalling the group is still safe.
   */
  beforeReap?: () => void;
}

export class ChildProcess extends ProcessRef {
  // stdin, stdout, stderr; null when none is a pipe (most children): one field, not three.
  readonly #pipes: Array<net.Socket | PipeReader | null> | null;

  /**
   * @internal Constructing it is the spawn: the clone happens in the native base class, and
   * this returns once the child's execve has passed its point of no return. Throws the raw
   * errno error of the step that failed (see spawn()). With `cloned`, the child spawnMany has
   * already cloned for this request is taken over instead, and the rest is the same.
   */
  constructor(request: RawSpawnRequest, fds: FdPlan, beforeReap: (() => void) | undefined, cloned?: RawClonedChild) {
    if (cloned !== undefined) {
      super(OP_CLONED, cloned);
    } else {
      const r = request;
      // By position: the native side reads arguments in this order (RawSpawnArgs), which cost
      // far less than 16 property lookups through Node-API. Spelled out rather than spread
      // from spawnArgs(): this is the path of every single spawn.
      super(OP_SPAWN, r.execPaths, r.argv, r.envp, r.cwd, r.uid, r.gid, r.groups, r.umask, r.rlimits,
        r.session, r.foregroundTty, r.fds, r.cgroupFd, r.pdeathsig, r.noNewPrivs, r.method,
        r.ignoredSignals, r.blockedSignals);
    }
    try {
      this[START_WATCH](beforeReap);
    } catch (error) {
      // The child runs but could not be watched (epoll_ctl failed: ENOMEM, or ENOSPC past
      // fs.epoll.max_user_watches): no half-started process may outlive the failed spawn.
      this[RAW_KILL_AND_REAP]();
      if (error instanceof Error) (error as RawErrnoError).stage = 'watch';
      throw error;
    }
    // Only once the child is watched: until then a failure leaves the pipes to FdPlan.closeAll.
    try {
      this.#pipes = fds.adoptDaemonEnds();
    } catch (error) {
      // A reader's uv_poll_init failed (ENOMEM): the child would run with nobody reading it.
      this[RAW_KILL_AND_REAP]();
      if (error instanceof Error) (error as RawErrnoError).stage = 'pipe';
      throw error;
    }
  }

  /** The syscall that created the child: clone3, or clone where clone3 is blocked. */
  get spawnMethod(): 'clone3' | 'clone' {
    return this[RAW_CLONE_METHOD] as 'clone3' | 'clone'; // null only for references not spawned
  }

  /** The daemon's end of the child's stdin, when it is a pipe. */
  get stdin(): net.Socket | null {
    return this.#socket(0);
  }

  /** The daemon's end of the child's stdout, when it is a 'pipe'. */
  get stdout(): net.Socket | null {
    return this.#socket(1);
  }

  /** The daemon's end of the child's stderr, when it is a 'pipe'. */
  get stderr(): net.Socket | null {
    return this.#socket(2);
  }

  /** The daemon's end of the child's stdout, when it is a 'reader'. */
  get stdoutReader(): PipeReader | null {
    const end = this.#pipes?.[1] ?? null;
    return end instanceof PipeReader ? end : null;
  }

  /** The daemon's end of the child's stderr, when it is a 'reader'. */
  get stderrReader(): PipeReader | null {
    const end = this.#pipes?.[2] ?? null;
    return end instanceof PipeReader ? end : null;
  }

  #socket(target: number): net.Socket | null {
    const end = this.#pipes?.[target] ?? null;
    return end instanceof PipeReader ? null : end;
  }
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const METHODS = { auto: 0, clone3: 1, clone: 2 } as const;
const SESSIONS = { none: 0, session: 1, group: 2 } as const;

/**
 * Starts a child. When this returns, the child's execve() has passed its point of no return; a
 * failure at any step before it throws SpawnError (with the errno name and stage) and leaves
 * nothing behind. The kernel finishes loading the program just after (it releases a vfork
 * parent in exec_mmap()), so for a moment /proc/<pid>/cmdline may still read empty and the
 * comm name be the old one.
 */
export function spawn(options: SpawnOptions): ChildProcess {
  const request = buildRequest(options);
  const fds = new FdPlan(options.command);
  let cgroupFd = -1;
  try {
    request.fds = fds.build(options.stdio ?? ['null', 'inherit', 'inherit'], options.extraFds ?? []);
    if (options.cgroup !== undefined) cgroupFd = openCgroup(options.command, options.cgroup);
    request.cgroupFd = cgroupFd;
    try {
      return new ChildProcess(request, fds, options.beforeReap);
    } catch (error) {
      if (!(error instanceof Error)) throw error;
      throw SpawnError.fromNative(error as RawErrnoError, options.command);
    }
  } finally {
    fds.closeAll();
    if (cgroupFd >= 0) fs.closeSync(cgroupFd);
  }
}

/** @internal A request as spawnMany's entries carry it: RawSpawnArgs, in ChildProcess's order. */
export function spawnArgs(r: RawSpawnRequest): RawSpawnArgs {
  return [r.execPaths, r.argv, r.envp, r.cwd, r.uid, r.gid, r.groups, r.umask, r.rlimits,
    r.session, r.foregroundTty, r.fds, r.cgroupFd, r.pdeathsig, r.noNewPrivs, r.method, r.ignoredSignals, r.blockedSignals];
}

/**
 * @internal Checks the options and turns them into the addon's request (also spawnMany's,
 * which passes one `inherited` environment for its whole batch).
 */
export function buildRequest(options: SpawnOptions, inherited?: string): RawSpawnRequest {
  const { command } = options;
  const fail = (reason: string): never => {
    throw SpawnError.invalid(command, reason);
  };
  checkString(command, 'command', fail);
  if (command === '') fail('command is empty');
  const args = options.args ?? [];
  const argv0 = options.argv0 ?? command;
  checkString(argv0, 'argv0', fail);
  const argv = [argv0];
  for (let i = 0; i < args.length; i++) argv.push(checkString(args[i], 'args', fail, i));
  // Without `env` the child gets process.env as this thread sees it now (inheritedEnvp).
  const env = options.env;
  let envp: string;
  if (env === undefined) {
    envp = inherited ?? inheritedEnvp();
  } else if (env instanceof PreparedEnvironment) {
    envp = env.envp;
  } else {
    envp = encodeEnv(env, fail);
  }
  if (options.cwd !== undefined) checkString(options.cwd, 'cwd', fail);
  if (options.uid !== undefined && options.gid === undefined) fail('gid is required with uid');
  checkId(options.uid, 'uid', fail);
  checkId(options.gid, 'gid', fail);
  checkId(options.umask, 'umask', fail);
  if (options.umask !== undefined && options.umask > 0o777) fail('umask must be at most 0o777');
  options.groups?.forEach((gid) => isId(gid) || fail('groups must be non-negative integers'));
  // A root daemon switching user must not hand its own supplementary groups (root's) to the
  // child. An unprivileged one cannot call setgroups at all; it keeps its groups, and the
  // setuid that follows is refused with EPERM anyway.
  const dropsGroups = options.uid !== undefined && options.uid !== 0 && process.geteuid?.() === 0;
  const groups = options.groups ?? (dropsGroups ? [] : null);
  const detach = options.detach ?? 'none';
  if (!Object.hasOwn(SESSIONS, detach)) fail(`detach must be one of ${Object.keys(SESSIONS).join(', ')}`);
  const method = options.method ?? 'auto';
  if (!Object.hasOwn(METHODS, method)) fail(`method must be one of ${Object.keys(METHODS).join(', ')}`);
  let pdeathsig = 0;
  if (options.parentDeathSignal !== undefined) {
    try {
      pdeathsig = signalNumber(options.parentDeathSignal);
    } catch (error) {
      fail((error as Error).message);
    }
  }
  const ignoredSignals = signalSet(options.signals?.ignored, 'signals.ignored', fail);
  const blockedSignals = signalSet(options.signals?.blocked, 'signals.blocked', fail);
  return {
    execPaths: resolveExecutable(command, env),
    argv,
    envp,
    cwd: options.cwd ?? null,
    uid: options.uid ?? -1,
    gid: options.gid ?? -1,
    groups: groups === null ? null : [...groups],
    umask: options.umask ?? -1,
    rlimits: options.rlimits === undefined ? [] : flattenRlimits(options.rlimits, fail),
    session: SESSIONS[detach],
    foregroundTty: options.foregroundTerminal === true && detach === 'group',
    fds: [],
    cgroupFd: -1,
    pdeathsig,
    noNewPrivs: options.noNewPrivileges === true,
    method: METHODS[method],
    ignoredSignals,
    blockedSignals,
  };
}

/** A list of signals as the kernel's 64-bit set (bit n-1 for signal n). */
function signalSet(signals: readonly SignalLike[] | undefined, what: string, fail: (message: string) => never): bigint {
  let set = 0n;
  for (const signal of signals ?? []) {
    let number: number;
    try {
      number = signalNumber(signal);
    } catch (error) {
      fail(`${what}: ${(error as Error).message}`);
    }
    if (number === 0) fail(`${what}: 0 is not a signal`);
    if (number === 9 || number === 19) fail(`${what}: SIGKILL and SIGSTOP can be neither ignored nor blocked`);
    set |= 1n << BigInt(number - 1);
  }
  return set;
}

// Candidates for execve in order, as execvp(3) searches: the child tries each and skips
// the missing ones, so the parent makes no stat() calls and the answer cannot go stale.
// PATH is read only for a bare name: process.env.PATH is a call into C++ (node::EnvGetter)
// that showed in spawn's profile.
function resolveExecutable(command: string, env: SpawnOptions['env']): readonly string[] {
  if (command.includes('/')) return [command];
  if (env instanceof PreparedEnvironment) return env.candidates(command);
  return searchCandidates(env === undefined ? process.env.PATH : env.PATH, command);
}

function searchCandidates(searchPath: string | undefined, command: string): string[] {
  return (searchPath ?? DEFAULT_PATH).split(':').map((dir) => path.join(dir === '' ? '.' : dir, command));
}

// Bare names whose candidates a PreparedEnvironment keeps; a daemon runs a handful of programs.
const KEPT_CANDIDATES = 64;

function flattenRlimits(limits: Partial<Record<RlimitName, Rlimit>>, fail: (reason: string) => never): number[] {
  const flat: number[] = [];
  for (const [name, limit] of Object.entries(limits)) {
    const resource = RLIMITS[name as RlimitName];
    if (resource === undefined) fail(`unknown rlimit ${JSON.stringify(name)}`);
    if (limit === undefined) continue;
    const { soft, hard } = typeof limit === 'object' ? limit : { soft: limit, hard: limit };
    const value = (v: RlimitValue): number => {
      if (v === 'unlimited') return -1;
      if (!Number.isSafeInteger(v) || v < 0) fail(`rlimit ${name} must be a non-negative integer or "unlimited"`);
      return v;
    };
    flat.push(resource, value(soft), value(hard));
  }
  return flat;
}

/** Returns `value` once it is a string without NUL; `what` (with `detail`) names it in the error. */
function checkString(value: unknown, what: string, fail: (reason: string) => never, detail?: number | string): string {
  if (typeof value !== 'string') fail(`${label(what, detail)} must be a string`);
  // C strings end at NUL: an argument with one would be silently cut short.
  if ((value as string).includes('\0')) fail(`${label(what, detail)} contains a NUL byte`);
  return value as string;
}

// Put together only for an error: checkString runs for every argument of every spawn.
function label(what: string, detail: number | string | undefined): string {
  if (detail === undefined) return what;
  return typeof detail === 'number' ? `${what}[${detail}]` : `${what} ${detail}`;
}

function checkId(value: number | undefined, what: string, fail: (reason: string) => never): void {
  if (value !== undefined && !isId(value)) fail(`${what} must be a non-negative integer`);
}

function isId(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xfffffffe;
}

/**
 * A child environment checked and encoded once, for a caller that starts many children with
 * the same one: the daemon gives its services its own environment, which nothing in it changes
 * after its start. Building "NAME=value" entries from process.env costs a call into C++ per
 * variable (node::EnvGetter), some 70 µs per spawn with 35 variables on a loaded machine.
 */
export class PreparedEnvironment {
  /** @internal "NAME=value" entries, each ended by a NUL, as the addon's request carries them. */
  readonly envp: string;
  /** @internal PATH, for the search of a bare command name. */
  readonly path: string | undefined;

  /**
   * The execve candidates of bare command names under this PATH, computed once per name: a
   * pure function of PATH and the name (no stat: the child still tries each one), so they
   * cannot go stale. Joining each directory of a 16-entry PATH (npm's) with the name cost
   * ~60 us of CPU per spawn in the daemon's interpreter-only V8. Bounded: emptied when full.
   */
  readonly #candidates = new Map<string, readonly string[]>();

  private constructor(envp: string, path: string | undefined) {
    this.envp = envp;
    this.path = path;
  }

  /** @internal execve candidates of a bare `command` (no '/'), in PATH order. */
  candidates(command: string): readonly string[] {
    let found = this.#candidates.get(command);
    if (found === undefined) {
      if (this.#candidates.size >= KEPT_CANDIDATES) this.#candidates.clear();
      found = Object.freeze(searchCandidates(this.path, command));
      this.#candidates.set(command, found);
    }
    return found;
  }

  /** `env`; throws TypeError for a name or value that is not a string or contains NUL, or a name that is empty or contains "=". */
  static of(env: Readonly<Record<string, string>>): PreparedEnvironment {
    const envp = encodeEnv(env, (reason) => {
      throw new TypeError(reason);
    });
    return new PreparedEnvironment(envp, env.PATH);
  }

  /** process.env as the calling thread sees it now, exactly what a spawn without `env` would pass now. */
  static ofProcess(): PreparedEnvironment {
    return new PreparedEnvironment(inheritedEnvp(), process.env.PATH);
  }
}

function encodeEnv(env: Readonly<Record<string, string>>, fail: (reason: string) => never): string {
  let envp = '';
  for (const key of Object.keys(env)) {
    checkString(key, 'env name', fail);
    const value = checkString(env[key], 'env', fail, key);
    if (key === '' || key.includes('=')) fail(`env name ${JSON.stringify(key)} is empty or contains "="`);
    envp += `${key}=${value}\0`;
  }
  return envp;
}

/**
 * @internal process.env as the addon's request carries it ("NAME=value" entries, each ended by
 * a NUL), read on the calling thread, as child_process does: a worker thread's children get the
 * worker's own environment with its changes, and no child reads the C `environ`, which another
 * thread may be changing (setenv frees the array it replaces, which a child reading it would
 * take as its environment).
 */
export function inheritedEnvp(): string {
  const env = process.env;
  let envp = '';
  for (const key of Object.keys(env)) {
    const value = env[key];
    if (value !== undefined) envp += `${key}=${value}\0`;
  }
  return envp;
}

/** This process's environment as a plain record (the default environment of a child). */
export function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  return env;
}

/** @internal */
export function openCgroup(command: string, dir: string): number {
  try {
    return fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    throw new SpawnError(`cannot start ${JSON.stringify(command)}: cgroup ${dir}: ${err.message}`, {
      code: err.code ?? 'EUNKNOWN', errno: -(err.errno ?? 0), syscall: 'open', stage: 'cgroup', command, cause: err,
    });
  }
}

// kMaxPlanFds in native/src/spawn_child.h.
const MAX_PLAN_FDS = 1024;

// /dev/null opened once (close-on-exec, as libuv opens everything) and shared by all spawns.
let devNull: number | undefined;

/** @internal The fds of one spawn: which parent fd becomes each child fd, and the pipes made for it. */
export class FdPlan {
  readonly #command: string;
  // Fds this plan made and must close: the child's pipe ends always, the daemon's on failure.
  // Both stay null for a spawn without pipes (most of them), which then allocates nothing here.
  #owned: number[] | null = null;
  #daemonEnds: Array<{ fd: number; readable: boolean; native: boolean } | null> | null = null;

  constructor(command: string) {
    this.#command = command;
  }

  build(stdio: readonly StdioOption[], extra: readonly number[]): number[] {
    // Checked before any pipe is made: the child copies its plan onto its stack.
    if (stdio.length + extra.length > MAX_PLAN_FDS) {
      throw SpawnError.invalid(this.#command, `a child can be given at most ${MAX_PLAN_FDS} fds (stdio and extraFds together)`);
    }
    const fds: number[] = [];
    for (let target = 0; target < stdio.length; target++) fds.push(this.#source(stdio[target]!, target));
    for (const fd of extra) {
      if (!Number.isInteger(fd) || fd < 0) throw SpawnError.invalid(this.#command, 'extraFds must be fds');
      fds.push(fd);
    }
    return fds;
  }

  /** After a successful spawn: the daemon's pipe ends wrapped for the event loop; null without pipes. */
  adoptDaemonEnds(): Array<net.Socket | PipeReader | null> | null {
    if (this.#daemonEnds === null) return null;
    const adopted: Array<net.Socket | PipeReader | null> = [];
    try {
      for (const end of this.#daemonEnds) {
        const wrapped = end === null ? null : end.native ? new PipeReader(end.fd) : new net.Socket({ fd: end.fd, readable: end.readable, writable: !end.readable });
        adopted.push(wrapped);
        if (end !== null) this.#owned = this.#owned!.filter((fd) => fd !== end.fd);
      }
    } catch (error) {
      // The end that failed is still owned (closeAll closes it); the ones wrapped are closed here.
      for (const wrapped of adopted) {
        if (wrapped instanceof PipeReader) wrapped.close();
        else wrapped?.destroy();
      }
      throw error;
    }
    return adopted;
  }

  closeAll(): void {
    if (this.#owned === null) return;
    for (const fd of this.#owned) binding.closeFd(fd); // made by the addon: see closeFd
    this.#owned = null;
  }

  #source(option: StdioOption, target: number): number {
    if (option === 'inherit') return target;
    if (option === 'null') {
      devNull ??= fs.openSync('/dev/null', 'r+');
      return devNull;
    }
    if (option === 'pipe') return this.#pipe(target, false);
    if (option === 'reader' && target > 0) return this.#pipe(target, true);
    if (typeof option === 'object' && option !== null && Number.isInteger(option.fd) && option.fd >= 0) return option.fd;
    const reader = target > 0 ? ', "reader"' : '';
    throw SpawnError.invalid(this.#command, `stdio[${target}] must be "inherit", "null", "pipe"${reader} or { fd }`);
  }

  #pipe(target: number, native: boolean): number {
    const childReads = target === 0;
    let ends: [number, number];
    try {
      ends = binding.makePipe(childReads ? 1 : 0);
    } catch (error) {
      const raw = error as RawErrnoError;
      raw.stage = 'pipe';
      throw SpawnError.fromNative(raw, this.#command);
    }
    const [readEnd, writeEnd] = ends;
    (this.#owned ??= []).push(readEnd, writeEnd);
    (this.#daemonEnds ??= [null, null, null])[target] = childReads ? { fd: writeEnd, readable: false, native } : { fd: readEnd, readable: true, native };
    return childReads ? readEnd : writeEnd;
  }
}
