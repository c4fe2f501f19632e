// The daemon process: its limits, its supervisor, its config, and its signals.
// SIGHUP reloads the config (only changed services restart); SIGTERM and SIGINT stop every
// service, each with its own timeout, in parallel, and then the daemon exits 0. SIGUSR1 logs
// the state of every service; SIGUSR2 is reserved (logged, otherwise ignored). Neither ever
// opens Node's inspector (see inspector-signals.ts).
import type { Logger } from 'pino';
import { assertPidfdSupport, raiseSoftLimitToHard } from '../native/index.js';
import type { Config } from './config.js';
import { keepInspectorClosed } from './inspector-signals.js';
import { createLogger } from './logger.js';
import { lockStateDir } from './state-dir-lock.js';
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
  /**
   * Runs once the supervisor exists and before any configured service starts: where the API
   * starts listening, so a daemon that cannot serve (its socket held by a live daemon) starts
   * nothing. Returns what to close at shutdown, before the services stop.
   */
  serve?: (supervisor: Supervisor, logger: Logger) => Promise<{ close(): Promise<void> }>;
}

export interface Daemon {
  supervisor: Supervisor;
  logger: Logger;
  /** Re-reads the config file; null when the daemon has none. */
  reload(): Promise<ConfigChanges | null>;
  /** Stops every service and removes the signal handlers. */
  shutdown(): Promise<void>;
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  keepInspectorClosed(); // already done by bin/pidvisor.ts; here for a daemon started as a library
  const logger = options.logger ?? createLogger();
  assertPidfdSupport();
  const nofile = raiseSoftLimitToHard('nofile');
  // Before anything else is touched: a daemon refused here (another holds the state dir)
  // has made, changed and removed nothing.
  const lock = lockStateDir(options.stateDir);
  let supervisor: Supervisor;
  try {
    supervisor = new Supervisor({
      stateDir: options.stateDir,
      logger,
      ...(options.cgroupName === undefined ? {} : { cgroupName: options.cgroupName }),
    });
  } catch (error) {
    lock.release();
    throw error;
  }
  logger.info({ stateDir: options.stateDir, nofile, defaultKillMode: supervisor.system().defaultKillMode }, 'daemon starting');
  let initial: Config | null;
  let server: { close(): Promise<void> } | null;
  try {
    // Load the config before anything runs, so a broken file fails the start loudly.
    initial = options.configFile === undefined ? null : await loadConfig(options.configFile);
    server = options.serve === undefined ? null : await options.serve(supervisor, logger);
  } catch (error) {
    // A start that fails leaves nothing behind: the supervisor made its cgroup root.
    await supervisor.shutdown();
    lock.release();
    throw error;
  }

  const reload = async (): Promise<ConfigChanges | null> => {
    if (options.configFile === undefined) return null;
    const changes = await supervisor.applyConfig((await loadConfig(options.configFile)).services);
    logger.info({ changes }, 'config applied');
    return changes;
  };
  const onHangup = (): void => {
    reload().catch((error: unknown) => logger.error({ err: error }, 'config reload failed; the running services are unchanged'));
  };
  process.on('SIGHUP', onHangup);
  const onUserSignal = (signal: NodeJS.Signals): void => logUserSignal(supervisor, logger, signal);
  process.on('SIGUSR1', onUserSignal);
  process.on('SIGUSR2', onUserSignal);

  if (initial !== null) {
    const changes = await supervisor.applyConfig(initial.services);
    logger.info({ changes }, 'config applied');
  }
  return {
    supervisor,
    logger,
    reload,
    async shutdown() {
      process.off('SIGHUP', onHangup);
      process.off('SIGUSR1', onUserSignal);
      process.off('SIGUSR2', onUserSignal);
      await server?.close();
      await supervisor.shutdown();
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
async function loadConfig(file: string): Promise<Config> {
  return (await import('./config.js')).loadConfig(file);
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
      daemon.logger.info({ signal }, 'stopping every service');
      daemon.shutdown().then(
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
