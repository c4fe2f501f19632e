// `pidvisor daemon`: run the supervisor and its API until SIGTERM or SIGINT.
import path from 'node:path';
import { shutdownOnSignal, startDaemon } from '../../../daemon/daemon.js';
import { collectGarbageWhenIdle, collectStartupGarbage } from '../../../daemon/heap.js';
import { daemonStarted } from '../../../daemon/keeper.js';
import { createLogger } from '../../../daemon/logger.js';
import { defaultSocketPath, defaultStateDir } from '../../../daemon/paths.js';
import { buildApp, listen, type TcpOptions } from '../../server/index.js';
import { palette, wantsColour } from '../colour.js';
import { EXIT, UsageError, type Command } from '../command.js';

export const daemonCommand: Command = {
  name: 'daemon',
  summary: 'Run the supervisor and its HTTP API. With no options it starts empty and listens on its unix socket.',
  usage: 'daemon [options]  |  daemon reexec [--timeout SECONDS] (see `pidvisor daemon reexec --help`)',
  details: `Options:
  --socket PATH       the API's unix socket (default: $PIDVISOR_SOCKET, else ${defaultSocketPath()})
  --config FILE       YAML file of services, loaded at start and on reload
  --state-dir DIR     this daemon's directory: logs, audit.log of every mutating request,
                      daemon.lock (default: ${defaultStateDir()}); one daemon per directory
  --listen HOST:PORT  also serve the API over TCP (loopback unless --tls-cert/--tls-key); needs --token-file
  --token-file FILE   bearer token for TCP clients (at least 16 bytes, readable by its owner only)
  --tls-cert FILE     TLS certificate and key for --listen
  --tls-key FILE
  --allow-host NAME   a Host name clients use to reach --listen (repeatable), e.g. the
                      machine's name for --listen 0.0.0.0:7443; loopback names and the
                      listen address are always accepted, any other Host gets 403 (this
                      keeps web pages from reaching the API through DNS rebinding)
  --usage-interval MS how often the CPU, memory, tasks and fds of every running service are
                      sampled in the background (default 10000, at least 1000; 0: only when asked,
                      by the API, /metrics or the CLI); a sample under a second old is reused
  --cgroup-name PATH  this daemon's cgroup subtree, relative to the cgroup v2 mount
                      (default: named after the state dir, e.g. pidvisor-var-lib-pidvisor-<hash>);
                      made when missing, removed at exit only if empty and made by it

The daemon is ready when its socket accepts connections. Before it touches anything it
locks its state dir (flock on daemon.lock, released by the kernel when the daemon dies):
a second daemon on the same state dir is refused, naming the first one's pid, and changes
nothing. A socket path held by a live daemon is an error; a stale socket file is replaced.

Reload: SIGHUP, \`pidvisor reload\` or POST /v1/config/reload re-read the config. A file with
any problem is refused whole (the line, the field and what is allowed are logged) and
nothing changes; \`pidvisor check --config FILE\` finds them beforehand. Changed services
keep their id, history and logs and restart if they were running; added ones start,
removed ones stop.

Upgrade: \`pidvisor daemon reexec\` (or POST /v1/system/reexec) makes the running daemon hand
every service, output pipe and socket to pidvisor-keeper and exit; the keeper re-executes
itself from disk and starts the new daemon, which takes everything over: no service is
restarted, no request refused, no captured byte lost. Not without the keeper (PIDVISOR_KEEPER=off).

Signals: SIGHUP reloads; SIGTERM or SIGINT stops every service, each with its stop timeout,
then exits 0; SIGUSR1 logs the status of every service; SIGUSR2 is reserved (logged,
otherwise ignored). Neither opens Node's inspector.`,
  options: {
    socket: { type: 'string' },
    config: { type: 'string' },
    'state-dir': { type: 'string' },
    listen: { type: 'string' },
    'token-file': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'allow-host': { type: 'string', multiple: true },
    'cgroup-name': { type: 'string' },
    'usage-interval': { type: 'string' },
  },
  client: false,
  async run({ values }) {
    const tcp = tcpOptions(values);
    const socketPath = (values.socket as string | undefined) ?? defaultSocketPath();
    const usageInterval = values['usage-interval'] as string | undefined;
    if (usageInterval !== undefined && !(/^\d{1,9}$/.test(usageInterval) && (usageInterval === '0' || Number(usageInterval) >= 1000))) {
      throw new UsageError(`--usage-interval takes 0 (only when asked) or a number of ms from 1000, not ${JSON.stringify(usageInterval)}`);
    }
    const stateDir = (values['state-dir'] as string | undefined) ?? defaultStateDir();
    const logger = createLogger();
    let daemon;
    try {
      daemon = await startDaemon({
        stateDir,
        ...(values.config === undefined ? {} : { configFile: values.config as string }),
        ...(values['cgroup-name'] === undefined ? {} : { cgroupName: values['cgroup-name'] as string }),
        ...(usageInterval === undefined ? {} : { usageIntervalMs: Number(usageInterval) }),
        logger,
        serve: async (supervisor, _logger, reload, keeper, reexec) => {
          const app = buildApp(supervisor, { logger, audit: { file: path.join(stateDir, 'audit.log') }, reloadConfig: reload, reexec });
          return listen(app, {
            socketPath,
            ...(tcp === undefined ? {} : { tcp }),
            keeper,
          });
        },
      });
    } catch (error) {
      logger.fatal({ err: error }, 'daemon failed to start');
      process.stderr.write(`pidvisor daemon: ${(error as Error).message}\n`);
      return EXIT.failed;
    }
    collectStartupGarbage();
    collectGarbageWhenIdle();
    const stopped = shutdownOnSignal(daemon);
    daemonStarted();
    greet(socketPath, tcp, daemon.supervisor.system().services);
    return stopped;
  },
};

/**
 * For a person who started the daemon at a terminal: one line saying it is ready, where it
 * listens and how to talk to it (the JSON log says the same for machines). Nothing when
 * neither stderr nor stdout is a terminal (systemd, a container, a pipe).
 */
function greet(socketPath: string, tcp: TcpOptions | undefined, services: number): void {
  const stream = process.stderr.isTTY ? process.stderr : process.stdout.isTTY ? process.stdout : null;
  if (stream === null) return;
  const c = palette(wantsColour(stream));
  const where = [`unix:${socketPath}`, ...(tcp === undefined ? [] : [`${tcp.tls === undefined ? 'http' : 'https'}://${tcp.host}:${tcp.port} (bearer token)`])].join(' and ');
  const socketOption = socketPath === defaultSocketPath() ? '' : ` --socket ${socketPath}`;
  stream.write(
    `${c.green(c.bold('pidvisor daemon ready'))}: listening on ${where}; ${services} service${services === 1 ? '' : 's'}\n` +
      `  try: pidvisor run${socketOption} --name NAME -- COMMAND, pidvisor ps${socketOption}, pidvisor top${socketOption}; Ctrl-C stops every service and exits\n`,
  );
}

function tcpOptions(values: Record<string, unknown>): TcpOptions | undefined {
  const listenAt = values.listen as string | undefined;
  if (listenAt === undefined) return undefined;
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listenAt);
  if (match === null) throw new UsageError(`--listen takes HOST:PORT, not ${JSON.stringify(listenAt)}`);
  const tokenFile = values['token-file'] as string | undefined;
  if (tokenFile === undefined) throw new UsageError('--listen needs --token-file: TCP clients must present a bearer token');
  const cert = values['tls-cert'] as string | undefined;
  const key = values['tls-key'] as string | undefined;
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const allowedHosts = (values['allow-host'] as string[] | undefined) ?? [];
  for (const host of allowedHosts) {
    if (!/^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) throw new UsageError(`--allow-host takes a host name or address, not ${JSON.stringify(host)}`);
  }
  return {
    host: match[1] ?? match[2]!,
    port: Number(match[3]),
    tokenFile,
    ...(cert === undefined || key === undefined ? {} : { tls: { certFile: cert, keyFile: key } }),
    ...(allowedHosts.length === 0 ? {} : { allowedHosts }),
  };
}
