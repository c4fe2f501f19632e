// The daemon process: its limits, its supervisor, its config, and its signals.
// SIGHUP reloads the config (changed services are redefined in place); SIGTERM and SIGINT
// stop every service, each with its own timeout, in parallel, and then the daemon exits 0.
// SIGUSR1 logs the state of every service; SIGUSR2 is reserved (logged, otherwise ignored).
// Neither ever opens Node's inspector (see inspector-signals.ts).
import type { Logger } from 'pino';
import { assertPidfdSupport, raiseSoftLimitToHard } from '../native/index.js';
import type { ConfigFile } from './config.js';
import { SupervisorError } from './errors.js';
import { keepInspectorClosed } from './inspector-signals.js';
import { keeperChannel } from './keeper.js';
import { KeeperLink, type ListenerKeeper } from './keeper-link.js';
import { createLogger } from './logger.js';
import { lockStateDir } from './state-dir-lock.js';
import { Reexec, type ReexecAccepted } from './reexec.js';
import { openState, resumeState, type StatePersistence } from './state-persistence.js';
import { Supervisor, type ConfigChanges } from './supervisor.js';

export interface DaemonOptions {
  stateDir: string;
  configFile?: string;
  logger?: Logger;
  /**
   * This daemon's cgroup subtree, relative to the cgroup v2 mount. Default: named after the
   * state dir (see cgroupNameFor), so two daemons never share one.
   */
  cgroupName?: string;
  /** Background sampling period of the services' resource usage (Supervisor's default: 10 s); 0: on request only. */
  usageIntervalMs?: number;
  /**
   * Runs once the supervisor exists and before any configured service starts: where the API
   * starts listening, so a daemon that cannot serve (its socket held by a live daemon) starts
   * nothing. `reload` is the daemon's reload (for the API's). `keeper`, under pidvisor-keeper:
   * where the listening sockets are kept across a daemon restart (api/server/transport.ts).
   * `reexec` is the daemon's hand-over to a new daemon (for the API's). Returns what to close
   * at shutdown, before the services stop, and how to stop accepting for a hand-over.
   */
  serve?: (
    supervisor: Supervisor,
    logger: Logger,
    reload: () => Promise<ConfigChanges>,
    keeper: ListenerKeeper | null,
    reexec: () => ReexecAccepted,
  ) => Promise<{ close(): Promise<void>; quiesce?(): Promise<{ forced: number }> }>;
}

export interface Daemon {
  supervisor: Supervisor;
  logger: Logger;
  /**
   * Re-reads and applies the config file, and says what changed. Throws NO_CONFIG when the
   * daemon has no file, CONFIG_INVALID (with `problems`; nothing changed) for a refused one.
   */
  reload(): Promise<ConfigChanges>;
  /**
   * Hands everything to pidvisor-keeper and exits, for a new daemon that restarts nothing
   * (reexec.ts); returns once the hand-over has begun. Throws NO_KEEPER without a keeper,
   * HANDING_OVER when one has begun, SHUTTING_DOWN during a stop.
   */
  reexec(): ReexecAccepted;
  /** A hand-over to a new daemon has begun (this process exits once it is done). */
  readonly handingOver: boolean;
  /**
   * Stops every service and removes the signal handlers. During a hand-over: never resolves
   * (the process exits); `signal`, the one that asked for the stop, goes to the new daemon,
   * which stops once it has taken over.
   */
  shutdown(signal?: NodeJS.Signals): Promise<void>;
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  keepInspectorClosed(); // already done by bin/pidvisor.ts; here for a daemon started as a library
  const logger = options.logger ?? createLogger();
  assertPidfdSupport();
  const nofile = raiseSoftLimitToHard('nofile');
  // Before anything else is touched: a daemon refused here (another holds the state dir)
  // has made, changed and removed nothing, and has not read the journal: a second daemon that
  // read a live one's journal would take its services over beside it.
  const lock = lockStateDir(options.stateDir);
  let supervisor: Supervisor;
  let persistence: StatePersistence;
  let keeper: KeeperLink | null;
  try {
    // A corrupt journal stops the start here, before anything runs (StateFileError).
    const { store, events } = openState(options.stateDir, logger);
    try {
      supervisor = new Supervisor({
        stateDir: options.stateDir,
        logger,
        events,
        cgroupRootMadeBefore: store.state.cgroupRootMade,
        ...(options.cgroupName === undefined ? {} : { cgroupName: options.cgroupName }),
        ...(options.usageIntervalMs === undefined ? {} : { usageIntervalMs: options.usageIntervalMs }),
      });
    } catch (error) {
      store.close();
      throw error;
    }
    logger.info({ stateDir: options.stateDir, nofile, defaultKillMode: supervisor.system().defaultKillMode }, 'daemon starting');
    // Before the API serves: it must never answer with a list the dead daemon's services are missing from.
    // Under the keeper: what it held for this daemon (pidfds of running instances, exits).
    const channel = keeperChannel();
    keeper = channel === null ? null : await KeeperLink.open(channel, logger);
    persistence = resumeState(supervisor, store, logger, options.configFile ?? null, keeper);
  } catch (error) {
    lock.release();
    throw error;
  }

  // One reload at a time is the supervisor's business (applyConfig queues); this reads the
  // file, applies it, and logs the same summary for SIGHUP and for the API.
  const reload = async (): Promise<ConfigChanges> => {
    const file = options.configFile;
    if (file === undefined) throw new SupervisorError('NO_CONFIG', 'the daemon was started without --config: there is no file to reload');
    try {
      const changes = await applyConfigFile(supervisor, await loadConfig(file));
      logger.info({ file, changes }, 'config applied');
      return changes;
    } catch (error) {
      const problems = (error as SupervisorError).details?.problems;
      if (problems !== undefined) logger.error({ file, problems }, 'config refused; the running services are unchanged');
      else logger.error({ err: error, file }, 'config reload failed');
      throw error;
    }
  };
  const onHangup = (): void => {
    if (handOver.passOn('SIGHUP')) return;
    if (options.configFile === undefined) logger.warn('SIGHUP: the daemon has no config file to reload');
    else reload().catch(() => {}); // logged by reload
  };
  const onUserSignal = (signal: NodeJS.Signals): void => logUserSignal(supervisor, logger, signal);

  let initial: ConfigFile | null = null;
  let server: { close(): Promise<void>; quiesce?(): Promise<{ forced: number }> } | null = null;
  let stopping = false;
  const handOver = new Reexec({
    logger,
    supervisor,
    channel: keeperChannel(),
    keeper,
    quiesceApi: () => server?.quiesce?.() ?? Promise.resolve({ forced: 0 }),
    closeState: () => {
      persistence.close();
      lock.release();
    },
    exit: (code) => process.exit(code),
  });
  const reexec = (): ReexecAccepted => {
    if (stopping) throw new SupervisorError('SHUTTING_DOWN', 'the daemon is shutting down');
    return handOver.request();
  };
  try {
    // Load the config before anything runs, so a broken file fails the start loudly.
    initial = options.configFile === undefined ? null : await loadConfig(options.configFile);
    server = options.serve === undefined ? null : await options.serve(supervisor, logger, reload, keeper, reexec);
    keeper?.settleListeners();
    process.on('SIGHUP', onHangup);
    process.on('SIGUSR1', onUserSignal);
    process.on('SIGUSR2', onUserSignal);
    if (initial !== null) {
      const changes = await applyConfigFile(supervisor, initial);
      logger.info({ file: initial.file, changes }, 'config applied');
    }
  } catch (error) {
    // A start that fails leaves nothing behind: the supervisor made its cgroup root. The
    // services it took over keep running, for the next daemon.
    process.off('SIGHUP', onHangup);
    process.off('SIGUSR1', onUserSignal);
    process.off('SIGUSR2', onUserSignal);
    await server?.close();
    persistence.abandon();
    await supervisor.shutdown();
    lock.release();
    throw error;
  }
  return {
    supervisor,
    logger,
    reload,
    reexec,
    get handingOver() {
      return handOver.handingOver;
    },
    async shutdown(signal) {
      if (handOver.handingOver) {
        // Stopping here would stop the services being handed over: the new daemon stops them.
        if (signal === undefined || !handOver.passOn(signal)) logger.warn('stop asked for during a hand-over to a new daemon: not acted on (it would stop the services handed over); send it to the new daemon');
        return new Promise<void>(() => {});
      }
      stopping = true;
      process.off('SIGHUP', onHangup);
      process.off('SIGUSR1', onUserSignal);
      process.off('SIGUSR2', onUserSignal);
      await server?.close();
      await supervisor.shutdown();
      persistence.close();
      lock.release();
    },
  };
}

/** SIGUSR1: one line per service, for an operator without a client at hand; SIGUSR2: reserved. */
function logUserSignal(supervisor: Supervisor, logger: Logger, signal: NodeJS.Signals): void {
  if (signal !== 'SIGUSR1') {
    logger.info({ signal }, 'signal ignored: reserved');
    return;
  }
  const services = supervisor.list();
  logger.info({ signal, services: services.length }, 'status');
  for (const { id, name, state, pid, restarts, reason } of services) {
    logger.info({ service: name ?? id, id, state, pid, restarts, reason }, 'service status');
  }
}

// The YAML parser is loaded only by a daemon that has a config file: the others would carry
// its code in resident memory for nothing (as init already does).
async function loadConfig(file: string): Promise<ConfigFile> {
  return (await import('./config.js')).loadConfig(file);
}

async function applyConfigFile(supervisor: Supervisor, config: ConfigFile): Promise<ConfigChanges> {
  return (await import('./config.js')).applyConfigFile(supervisor, config);
}

/**
 * Resolves once SIGTERM or SIGINT has stopped every service: 0 after a clean shutdown, 1
 * when it failed. A second signal during the shutdown changes nothing.
 */
export function shutdownOnSignal(daemon: Daemon): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      if (!daemon.handingOver) daemon.logger.info({ signal }, 'stopping every service'); // else: the new daemon stops them
      daemon.shutdown(signal).then(
        () => {
          daemon.logger.info('stopped');
          resolve(0);
        },
        (error: unknown) => {
          daemon.logger.fatal({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
