// `pidvisor init`: run as a container's PID 1 (or as a subreaper) around a main command.
import { remapStatus, runInit, type ForwardTarget } from '../../../daemon/init.js';
import { createLazyLogger, createLogger } from '../../../daemon/logger.js';
import { defaultStateDir } from '../../../daemon/paths.js';
import { signalNumber, type SignalName } from '../../../native/signals.js';
import { EXIT, UsageError, type Command } from '../command.js';

export const initCommand: Command = {
  name: 'init',
  summary: 'Run as init (PID 1 of a container, or a subreaper): reap orphans, forward signals, exit with the command.',
  usage: 'init [options] [-- COMMAND [ARGS...]]',
  details: `Runs COMMAND as the main child and exits with its exit code, or 128+signal when a signal
killed it. Every orphan reparented to pidvisor is reaped, never the exit of a tracked child.
Catchable signals are forwarded to the main child; SIGTERM and SIGINT stop everything: they go
to the main child's whole process group (with or without -g, unlike tini), with SIGKILL after
the grace period. SIGTTIN and SIGTTOU are ignored (as tini). On a terminal the main child gets
the foreground, unless pidvisor itself runs in the background. Without COMMAND it runs the
services until SIGTERM.

Without --config, --socket and --forward-to cgroup, the init is pidvisor-keeper's native one
(no Node process stays: it costs what tini costs); as a container's entry point use
build/Release/pidvisor-init, native from its first instruction.

Options:
  -g, --group               forward every signal to the main child's process group
                            (SIGTERM and SIGINT always go there)
  --forward-to TARGET       process | group | cgroup (the main child's own cgroup) (default process)
  -e, --success-code CODE   exit 0 instead of CODE (repeatable); CODE is the status pidvisor
                            would exit with: 128+n after signal n, 127/126 when COMMAND cannot start
  -p, --parent-death-signal SIGNAL
                            signal pidvisor gets when its parent dies
  --grace MS                time to stop after SIGTERM/SIGINT before SIGKILL (default 10000)
  --no-subreaper            when not PID 1, do not become a child subreaper (orphans then go
                            to the real init: zombie reaping won't work, and pidvisor says so)
  --config FILE             also supervise the services of this YAML file (SIGHUP goes to
                            COMMAND: reload with \`pidvisor reload\` through --socket)
  --socket PATH             also serve the HTTP API on this unix socket
  --state-dir DIR           logs of the services (default: ${defaultStateDir()}); locked
                            as by \`pidvisor daemon\` when --config or --socket is given
  -v, --verbose             log every reaped orphan and forwarded signal`,
  options: {
    group: { type: 'boolean', short: 'g' },
    'forward-to': { type: 'string' },
    'success-code': { type: 'string', short: 'e', multiple: true },
    'parent-death-signal': { type: 'string', short: 'p' },
    grace: { type: 'string' },
    'no-subreaper': { type: 'boolean' },
    config: { type: 'string' },
    socket: { type: 'string' },
    'state-dir': { type: 'string' },
    verbose: { type: 'boolean', short: 'v' },
  },
  client: false,
  async run({ values, positionals }) {
    const forwardTo = (values['forward-to'] as string | undefined) ?? (values.group === true ? 'group' : 'process');
    if (!['process', 'group', 'cgroup'].includes(forwardTo)) throw new UsageError(`--forward-to takes process, group or cgroup, not ${JSON.stringify(forwardTo)}`);
    const successCodes = ((values['success-code'] as string[] | undefined) ?? []).map((code) => {
      if (!/^\d+$/.test(code) || Number(code) > 255) throw new UsageError(`--success-code takes 0-255, not ${JSON.stringify(code)}`);
      return Number(code);
    });
    const grace = (values.grace as string | undefined) ?? '10000';
    if (!/^\d+$/.test(grace)) throw new UsageError(`--grace takes milliseconds, not ${JSON.stringify(grace)}`);
    const deathSignal = values['parent-death-signal'] as string | undefined;
    if (deathSignal !== undefined) {
      try {
        signalNumber(deathSignal.toUpperCase() as SignalName);
      } catch (error) {
        throw new UsageError(`--parent-death-signal: ${(error as Error).message}`);
      }
    }
    const socket = values.socket as string | undefined;
    const level = values.verbose === true ? 'debug' : (process.env.PIDVISOR_LOG_LEVEL ?? 'warn');
    // fastify needs a pino logger of its own; without the API, pino loads only if a line is written.
    const logger = socket === undefined ? createLazyLogger(level) : createLogger(level);
    try {
      return await runInit({
        command: positionals.length === 0 ? null : positionals,
        forwardTo: forwardTo as ForwardTarget,
        graceMs: Number(grace),
        successCodes,
        ...(deathSignal === undefined ? {} : { parentDeathSignal: deathSignal.toUpperCase() as SignalName }),
        subreaper: values['no-subreaper'] !== true,
        ...(values.config === undefined ? {} : { configFile: values.config as string }),
        stateDir: (values['state-dir'] as string | undefined) ?? defaultStateDir(),
        logger,
        // fastify is loaded only when the API is asked for: init starts faster without it.
        ...(socket === undefined
          ? {}
          : {
              serve: async (supervisor, _logger, reload) => {
                const { buildApp, listen } = await import('../../server/index.js');
                return listen(buildApp(supervisor, { logger, reloadConfig: reload }), { socketPath: socket });
              },
            }),
      });
    } catch (error) {
      logger.fatal({ err: error }, 'init failed');
      process.stderr.write(`pidvisor init: ${(error as Error).message}\n`);
      // As a shell (and tini) report it to the container runtime: 127 not found, 126 not runnable.
      if ((error as { name?: string }).name === 'SpawnError') return remapStatus((error as { code?: string }).code === 'ENOENT' ? 127 : 126, successCodes);
      return EXIT.failed;
    }
  },
};
