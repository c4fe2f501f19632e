// Init mode: pidvisor as PID 1 of a container (or as a child subreaper elsewhere). It runs
// the main command, reaps every orphan without stealing a tracked child's exit, forwards the
// signals it receives, stops everything gracefully on SIGTERM/SIGINT, and exits with the main
// command's status. With a config or a socket it also supervises services beside it.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import {
  assertPidfdSupport,
  capabilities,
  ignoreSignal,
  isChildSubreaper,
  OrphanReaper,
  setChildSubreaper,
  setParentDeathSignal,
  signalNumber,
  signalsInSet,
  spawn,
  type ProcessExit,
  type ProcessRef,
  type ReapedOrphan,
  type SignalName,
  type SpawnOptions,
} from '../native/index.js';
import { prepareCgroupRoot, removeCgroupIfEmpty, ServiceCgroup } from './cgroup.js';
import { keepInspectorClosed } from './inspector-signals.js';
import { holdMain, mainEnded, takeMainBack, type MainTakenBack } from './init-main.js';
import { daemonStarted, inheritedSignals, keeperChannel } from './keeper.js';
import { KeeperLink } from './keeper-link.js';
import { lockStateDir, type StateDirLock } from './state-dir-lock.js';
import { openState, resumeState, type StatePersistence } from './state-persistence.js';
import { SupervisorError } from './errors.js';
import type { ConfigChanges, Supervisor } from './supervisor.js';

export type ForwardTarget = 'process' | 'group' | 'cgroup';

export interface InitOptions {
  /** The main command; null runs only the services, until SIGTERM or SIGINT. */
  command: string[] | null;
  /** Where forwarded signals go: the main process, its process group, or its cgroup. */
  forwardTo: ForwardTarget;
  /** After SIGTERM/SIGINT, how long everything may take to stop before SIGKILL. */
  graceMs: number;
  /** Exit codes of the main command reported as 0 (tini -e). */
  successCodes: number[];
  /** Signal for this process when its parent dies (tini -p). */
  parentDeathSignal?: SignalName;
  /** Become a child subreaper when not PID 1 (default true). */
  subreaper: boolean;
  configFile?: string;
  stateDir: string;
  logger: Logger;
  /** Where the API starts, when asked for (see DaemonOptions.serve). */
  serve?: (supervisor: Supervisor, logger: Logger, reload: () => Promise<ConfigChanges>) => Promise<{ close(): Promise<void> }>;
}

/**
 * Signals forwarded to the main command. The synchronous ones (SEGV, BUS, FPE, ILL, ABRT,
 * TRAP, SYS) concern pidvisor itself; SIGCHLD drives the reaper; SIGKILL and SIGSTOP cannot
 * be caught; SIGPIPE is about pidvisor's own pipes; SIGPROF is V8's profiler tick (forwarding
 * it would kill the main command of a profiled pidvisor); SIGTTIN and SIGTTOU are ignored.
 */
export const FORWARDED_SIGNALS: readonly SignalName[] = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGALRM', 'SIGCONT',
  'SIGTSTP', 'SIGVTALRM', 'SIGXCPU', 'SIGXFSZ', 'SIGIO', 'SIGPWR', 'SIGURG',
];
/**
 * Ignored, as tini does: the terminal's job control sends them to pidvisor once the main
 * command holds the foreground (a read, or with TOSTOP a write of pidvisor's own log), and
 * they must neither stop pidvisor nor reach the command, which never caused them.
 */
export const IGNORED_SIGNALS: readonly SignalName[] = ['SIGTTIN', 'SIGTTOU'];
const GRACEFUL: ReadonlySet<string> = new Set(['SIGTERM', 'SIGINT']);
const SIGKILL = 9;

/** The status a container runtime sees: the code or 128 + signal, then remapped by -e. */
export function initExitStatus(exit: ProcessExit, successCodes: readonly number[]): number {
  const status = exit.code ?? (exit.signalNumber === null ? 1 : 128 + exit.signalNumber);
  return remapStatus(status, successCodes);
}

/**
 * -e applies to the status pidvisor would exit with, as tini's does: 143 after SIGTERM, and
 * 127/126 when the command could not start, are remapped like any exit code.
 */
export function remapStatus(status: number, successCodes: readonly number[]): number {
  return successCodes.includes(status) ? 0 : status;
}

export async function runInit(options: InitOptions): Promise<number> {
  keepInspectorClosed(); // already done by bin/pidvisor.ts; here for an init started as a library
  assertPidfdSupport();
  // Handlers first, before any child exists. As PID 1 a signal with no handler is dropped
  // by the kernel, so a SIGTERM sent as soon as the main command shows signs of life would
  // otherwise be lost if it beat the handlers (seen under load).
  const signals = new SignalRouter();
  try {
    return await supervise(options, signals);
  } finally {
    signals.close();
  }
}

async function supervise(options: InitOptions, signals: SignalRouter): Promise<number> {
  const { logger } = options;
  if (options.parentDeathSignal !== undefined) setParentDeathSignal(options.parentDeathSignal);
  if (process.pid !== 1) becomeSubreaper(options.subreaper, logger);

  // The supervisor (typebox, yaml) is loaded only when services are asked for: a plain
  // `pidvisor init -- cmd` starts faster without them.
  const services = options.configFile !== undefined || options.serve !== undefined ? await loadSupervisor(options) : null;
  const supervisor = services?.supervisor ?? null;
  const reaper = new OrphanReaper({ onReap: (orphan) => logOrphan(logger, supervisor, orphan) });
  reaper.start();
  // Every handler exists (signals, SIGCHLD): the keeper may pass on the signals it held.
  daemonStarted();
  let server: { close(): Promise<void> } | null = null;
  try {
    // SIGHUP belongs to the main command here: the API's reload is the way to reload.
    server = supervisor !== null && options.serve !== undefined ? await options.serve(supervisor, logger, () => applyConfigOf(supervisor, options)) : null;
    if (supervisor !== null && options.configFile !== undefined) await applyConfigOf(supervisor, options);
    return await runMain(options, signals, supervisor, services?.main ?? null);
  } finally {
    // Also when something above failed: nothing may keep the event loop (and so PID 1) alive.
    await server?.close();
    await supervisor?.shutdown();
    services?.persistence.close();
    services?.lock.release();
    reaper.sweep();
    reaper.stop();
  }
}

/** As tini does, says so when orphans cannot come to pidvisor (--no-subreaper, or refused). */
function becomeSubreaper(asked: boolean, logger: Logger): void {
  let refused: unknown = null;
  if (asked) {
    try {
      setChildSubreaper(true);
    } catch (error) {
      refused = error;
    }
  }
  if (isChildSubreaper()) return;
  logger.warn(
    { ...(refused === null ? {} : { err: refused }) },
    "pidvisor is neither PID 1 nor a child subreaper: orphans go to the real init, so zombie reaping won't work" +
      (asked ? '' : ' (drop --no-subreaper, or run pidvisor as PID 1)'),
  );
}

async function applyConfigOf(supervisor: Supervisor, options: InitOptions): Promise<ConfigChanges> {
  if (options.configFile === undefined) throw new SupervisorError('NO_CONFIG', 'init was started without --config: there is no file to reload');
  const { applyConfigFile, loadConfig } = await import('./config.js');
  const changes = await applyConfigFile(supervisor, loadConfig(options.configFile));
  options.logger.info({ file: options.configFile, changes }, 'config applied');
  return changes;
}

interface Services {
  supervisor: Supervisor;
  lock: StateDirLock;
  persistence: StatePersistence;
  /** The main command of a Node init that died before this one (under the same keeper). */
  main: MainTakenBack;
}

// The same rules as the daemon's: the state dir locked before anything is touched (see
// state-dir-lock.ts), the cgroup subtree named after it, and the same journal and keeper
// take-over (daemon.ts), so a Node init the keeper restarts keeps every service. Its main
// command is taken back first (init-main.ts): the services' take-over withdraws every pidfd
// the keeper held that no service claims.
async function loadSupervisor(options: InitOptions): Promise<Services> {
  const { logger, stateDir } = options;
  const lock = lockStateDir(stateDir);
  try {
    const { Supervisor: SupervisorClass } = await import('./supervisor.js');
    const { store, events } = openState(stateDir, logger);
    let supervisor: Supervisor;
    try {
      supervisor = new SupervisorClass({ stateDir, logger, events });
    } catch (error) {
      store.close();
      throw error;
    }
    const channel = keeperChannel();
    const keeper = channel === null ? null : await KeeperLink.open(channel, logger);
    const main = takeMainBack(stateDir, keeper, logger);
    const persistence = resumeState(supervisor, store, logger, options.configFile ?? null, keeper);
    return { supervisor, lock, persistence, main };
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function runMain(options: InitOptions, signals: SignalRouter, supervisor: Supervisor | null, before: MainTakenBack): Promise<number> {
  const { logger } = options;
  // The main command of the Node init this one replaces had ended: so does the container.
  if (before?.kind === 'ended') {
    await gracefulStop(null, 15, options.graceMs, supervisor, logger);
    return remapStatus(before.status, options.successCodes);
  }

  // A stop asked for during the start-up: do not start the main command at all (one taken
  // back runs already: it gets the stop).
  const early = signals.gracefulSignal;
  const main = before?.kind === 'running' ? { child: before.process, cgroup: null } : options.command === null || early !== null ? null : startMain(options);
  // With services, a Node init that dies from here on is restarted by the keeper and takes it back.
  if (main !== null && supervisor !== null) holdMain(options.stateDir, main.child, logger);
  let stopping: Promise<void> | null = null;
  const stopEverything = (signal: number): Promise<void> => {
    stopping ??= gracefulStop(main, signal, options.graceMs, supervisor, logger);
    return stopping;
  };

  const status = await new Promise<number>((resolve) => {
    signals.route({
      graceful: (signal) => {
        // With a main command, its exit (below) ends the run; without, the stop does: a clean
        // exit when there never was a command, 128+n when the stop came before it could start.
        void stopEverything(signal).then(() => main === null && resolve(options.command === null ? 0 : remapStatus(128 + signal, options.successCodes)));
      },
      other: (signal) => {
        if (main !== null) forward(main.child, main.cgroup, options.forwardTo, signal, logger);
      },
    });
    main?.child.wait().then(
      (exit) => {
        const code = initExitStatus(exit, options.successCodes);
        logger.info({ pid: main.child.pid, code: exit.code, signal: exit.signal, status: code }, 'main command exited');
        // Recorded first: a Node init restarted during the stop below exits with it too.
        if (supervisor !== null) mainEnded(options.stateDir, main.child, initExitStatus(exit, []));
        // The container ends with its main command: stop the services too.
        void stopEverything(15).then(() => resolve(code));
      },
      (error: unknown) => {
        logger.error({ err: error }, 'waiting for the main command failed');
        void stopEverything(15).then(() => resolve(1));
      },
    );
  });

  if (main?.cgroup !== null && main?.cgroup !== undefined) {
    main.cgroup.kill();
    if (!(await main.cgroup.waitEmpty(options.graceMs))) logger.error({ cgroup: main.cgroup.dir }, 'processes survived cgroup.kill');
    const left = main.cgroup.tryRemove();
    if (left !== null) logger.warn({ err: left }, 'cgroup left in place');
    // pidvisor-init/, the parent every init on this host shares: the last one out removes it,
    // so a host where `pidvisor init --forward-to cgroup` ran keeps no empty cgroup behind.
    else {
      try {
        removeCgroupIfEmpty(path.dirname(main.cgroup.dir));
      } catch (error) {
        logger.warn({ err: error }, 'cgroup left in place');
      }
    }
  }
  return status;
}

/**
 * Catches every forwarded signal from the moment it is made. Until a route is set, a
 * graceful signal is remembered (and replayed when the route is set) and the others are
 * dropped: there is nothing to forward them to yet.
 */
class SignalRouter {
  #graceful: number | null = null;
  #route: { graceful: (signal: number) => void; other: (signal: number) => void } | null = null;
  readonly #handlers = new Map<SignalName, () => void>();

  constructor() {
    for (const name of IGNORED_SIGNALS) ignoreSignal(name);
    for (const name of FORWARDED_SIGNALS) {
      const handler = (): void => this.#deliver(name);
      this.#handlers.set(name, handler);
      process.on(name, handler);
    }
  }

  /** The graceful signal received before a route was set, if any. */
  get gracefulSignal(): number | null {
    return this.#graceful;
  }

  route(route: { graceful: (signal: number) => void; other: (signal: number) => void }): void {
    this.#route = route;
    if (this.#graceful !== null) route.graceful(this.#graceful);
  }

  close(): void {
    for (const [name, handler] of this.#handlers) process.off(name, handler);
  }

  #deliver(name: SignalName): void {
    const signal = signalNumber(name);
    if (GRACEFUL.has(name)) {
      this.#graceful ??= signal;
      this.#route?.graceful(signal);
    } else {
      this.#route?.other(signal);
    }
  }
}

interface MainProcess {
  child: ProcessRef;
  cgroup: ServiceCgroup | null;
}

function startMain(options: InitOptions): MainProcess {
  const [command, ...args] = options.command!;
  let cgroup: ServiceCgroup | null = null;
  if (options.forwardTo === 'cgroup') {
    const root = prepareCgroupRoot(capabilities().cgroup2Mount, 'pidvisor-init');
    if (root.root === null) throw new Error(`--forward-to cgroup: ${root.reason}`);
    cgroup = ServiceCgroup.create(path.join(root.root, `main.${process.pid}`));
  }
  try {
    // Its own process group (as tini does), so group forwarding reaches it and what it
    // starts; the same session, and the terminal's foreground, so an interactive command
    // can read it (from a background group its first read would stop it with SIGTTIN).
    const child = spawn({
      command: command!,
      args,
      detach: 'group',
      foregroundTerminal: inForegroundOfTerminal(),
      stdio: ['inherit', 'inherit', 'inherit'],
      ...(cgroup === null ? {} : { cgroup: cgroup.dir }),
      ...inheritedSignalConfiguration(),
    });
    options.logger.info({ pid: child.pid, command: options.command, spawnMethod: child.spawnMethod }, 'main command started');
    return { child, cgroup };
  } catch (error) {
    cgroup?.tryRemove();
    throw error;
  }
}

/**
 * The main command starts with the signal configuration pidvisor itself was started with, as
 * under tini: a signal its parent ignored or blocked (`nohup`, a shell's `&`, a runtime's
 * setting) is ignored or blocked in the command too. Node resets both before any JavaScript
 * runs, so only pidvisor-keeper, the process that was started, can record them; without it
 * the command starts with every signal at its default and none blocked.
 * SIGKILL and SIGSTOP are in neither set (the kernel refuses to ignore or block them).
 */
function inheritedSignalConfiguration(): Pick<SpawnOptions, 'signals'> {
  const inherited = inheritedSignals();
  if (inherited === null) return {};
  return { signals: { ignored: signalsInSet(inherited.ignored), blocked: signalsInSet(inherited.blocked) } };
}

/**
 * Whether pidvisor's process group holds its terminal's foreground, so the main command may
 * take it over. tini takes it unconditionally, which lets `tini cmd &` steal the terminal
 * from the shell that started it; here a group that is visibly in the background keeps it
 * out. From inside a PID namespace a group made outside it reads as 0: then do as tini.
 */
function inForegroundOfTerminal(): boolean {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  // After the command name: state ppid pgrp session tty_nr tpgid (proc(5)).
  const [, , pgrp, , , foreground] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return !(pgrp! > 0 && foreground! > 0 && pgrp !== foreground);
}

function forward(child: ProcessRef, cgroup: ServiceCgroup | null, target: ForwardTarget, signal: number, logger: Logger): void {
  try {
    if (target === 'cgroup' && cgroup !== null) {
      signalCgroup(cgroup, signal);
    } else {
      child.signal(signal, { processGroup: target === 'group' });
    }
  } catch (error) {
    logger.debug({ err: error, signal }, 'signal not forwarded: the main command has exited');
  }
}

function signalCgroup(cgroup: ServiceCgroup, signal: number): void {
  if (signal === SIGKILL) cgroup.kill();
  else cgroup.signalEach(signal);
}

async function gracefulStop(main: MainProcess | null, signal: number, graceMs: number, supervisor: Supervisor | null, logger: Logger): Promise<void> {
  logger.info({ signal, graceMs }, 'stopping');
  const services = supervisor?.shutdown() ?? Promise.resolve();
  if (main !== null && main.child.exitStatus === undefined) {
    forward(main.child, main.cgroup, main.cgroup === null ? 'group' : 'cgroup', signal, logger);
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        logger.warn({ graceMs }, 'the main command did not stop in time: SIGKILL');
        forward(main.child, main.cgroup, main.cgroup === null ? 'group' : 'cgroup', SIGKILL, logger);
        resolve();
      }, graceMs);
    });
    await Promise.race([main.child.wait(), killed]);
    await main.child.wait();
    clearTimeout(timer);
  }
  await services;
}

function logOrphan(logger: Logger, supervisor: Supervisor | null, orphan: ReapedOrphan): void {
  const service = supervisor === null || orphan.cgroupId === null ? null : serviceOfCgroup(supervisor, orphan.cgroupId);
  logger.debug({ orphan: orphan.pid, code: orphan.exit.code, signal: orphan.exit.signal, service }, 'reaped an orphan');
}

// Orphans that lived in a service's cgroup belong to that service (and die with it, since
// cgroup.kill reaches them wherever they were reparented).
function serviceOfCgroup(supervisor: Supervisor, cgroupId: bigint): string | null {
  for (const info of supervisor.list()) {
    const dir = supervisor.service(info.id).cgroup?.dir;
    if (dir === undefined) continue;
    try {
      if (fs.statSync(dir, { bigint: true }).ino === cgroupId) return info.name ?? info.id;
    } catch {
      // removed meanwhile
    }
  }
  return null;
}
