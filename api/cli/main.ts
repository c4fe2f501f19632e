// `pidvisor <command>`: the entry of the CLI. Each command lives in commands/ and is loaded
// only when run: a client command must not pay for loading the daemon, fastify and the addon.
import { favourSmallHeap, keepYoungGenerationSmall, interpretJavaScriptOnly } from '../../daemon/heap.js';
import { VERSION } from '../../daemon/version.js';
import { CLIENT_OPTIONS, EXIT, runCommand, type Command } from './command.js';

export interface Entry {
  name: string;
  summary: string;
  load: () => Promise<Command>;
  /** Runs until stopped (daemon, init): its heap is set up for that before anything loads. */
  resident?: true;
}

const fromList = (load: () => Promise<Command[]>, name: string) => async (): Promise<Command> => (await load()).find((c) => c.name === name)!;
const processes = (): Promise<Command[]> => import('./commands/processes.js').then((m) => m.processCommands);
const streams = (): Promise<Command[]> => import('./commands/streams.js').then((m) => m.streamCommands);
const configs = (): Promise<Command[]> => import('./commands/config.js').then((m) => m.configCommands);

/** The command table: every command, loaded only when run. */
export const COMMANDS: readonly Entry[] = [
  { name: 'daemon', summary: 'Run the supervisor and its HTTP API (`daemon reexec`: upgrade it in place, restarting no service)', load: () => import('./commands/daemon.js').then((m) => m.daemonCommand), resident: true },
  { name: 'init', summary: 'Run as init (PID 1 of a container, or a subreaper)', load: () => import('./commands/init.js').then((m) => m.initCommand), resident: true },
  { name: 'run', summary: 'Start a command under the daemon', load: fromList(processes, 'run') },
  { name: 'ps', summary: 'List the processes the daemon supervises, with CPU % and memory', load: fromList(processes, 'ps') },
  { name: 'top', summary: 'A live table of every process: state, CPU %, memory, restarts, uptime', load: () => import('./commands/top.js').then((m) => m.topCommand) },
  { name: 'status', summary: 'Show one process: state and why, pid, instance, restarts, CPU, memory, tasks, fds, last exit, peak memory, logs written and dropped', load: fromList(processes, 'status') },
  { name: 'graph', summary: 'Show the dependency graph: start order, what each process needs, why it waits', load: () => import('./commands/graph.js').then((m) => m.graphCommand) },
  { name: 'show', summary: 'Show one process in full: definition (YAML), process tree, last exits', load: () => import('./commands/show.js').then((m) => m.showCommand) },
  { name: 'start', summary: 'Start stopped, exited or failed processes (by name, --all or --label)', load: fromList(processes, 'start') },
  { name: 'stop', summary: 'Stop processes and everything they started (by name, --all or --label)', load: fromList(processes, 'stop') },
  { name: 'restart', summary: 'Stop, then start again (by name, --all or --label)', load: fromList(processes, 'restart') },
  { name: 'rm', summary: 'Stop processes and forget them, with their logs (by id, name or label)', load: fromList(processes, 'rm') },
  { name: 'signal', summary: 'Send a signal to the current instances, through their pidfds (by name, --all or --label)', load: fromList(processes, 'signal') },
  { name: 'wait', summary: 'Wait until the current instance exits; exit with its status', load: fromList(processes, 'wait') },
  { name: 'logs', summary: "Print a process's captured output (-f to follow)", load: fromList(streams, 'logs') },
  { name: 'events', summary: 'Follow state changes of every process', load: fromList(streams, 'events') },
  { name: 'reload', summary: 'Re-read the daemon\'s config file; print what changed or why it was refused', load: fromList(configs, 'reload') },
  { name: 'import', summary: 'Print the pidvisor config equivalent to a supervisord, PM2 or process-compose file', load: () => import('./commands/import.js').then((m) => m.importCommand) },
  { name: 'check', summary: 'Validate a config file without loading it (exit 0, or 1 with each problem)', load: fromList(configs, 'check') },
  { name: 'ui', summary: 'Open the web dashboard: print a one-time sign-in link', load: () => import('./commands/ui.js').then((m) => m.uiCommand) },
  { name: 'startup', summary: 'Print (or install) the systemd unit that starts pidvisor at boot', load: () => import('./commands/startup.js').then((m) => m.startupCommand) },
  { name: 'version', summary: 'Print the version', load: () => import('./commands/version.js').then((m) => m.versionCommand) },
  { name: 'completion', summary: 'Print a completion script for bash, zsh or fish', load: () => import('./commands/completion.js').then((m) => m.completionCommand(completionEntries)) },
];

/** Every command with its long options, for the completion scripts. */
async function completionEntries(): Promise<Array<{ name: string; summary: string; options: string[] }>> {
  return Promise.all(
    COMMANDS.map(async (entry) => {
      const command = await entry.load();
      const options = [...Object.keys(command.options), ...(command.client ? Object.keys(CLIENT_OPTIONS) : []), 'help'];
      return { name: entry.name, summary: entry.summary, options };
    }),
  );
}

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `pidvisor ${VERSION}: a process supervisor that never signals the wrong process`,
    '',
    'Usage: pidvisor <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `pidvisor <command> --help` for its options. Exit codes: 0 ok, 1 refused or failed,',
    '2 usage error, 3 daemon unreachable; `wait` exits with the process status.',
    '`daemon` and `init` run under pidvisor-keeper, which holds their fds and signals across a',
    'daemon crash (README: Crash-safe supervision); PIDVISOR_KEEPER=off runs them without it.',
  ].join('\n');
}

/** Runs the CLI and returns the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.ok;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (entry === undefined) {
    process.stderr.write(`pidvisor: unknown command ${JSON.stringify(name)}\n\n${usage()}\n`);
    return EXIT.usage;
  }
  if (name === 'daemon' && rest[0] === 'reexec') {
    // A client of the running daemon, not a daemon: no keeper, nothing resident.
    return runCommand((await import('./commands/daemon-reexec.js')).daemonReexecCommand, rest.slice(1));
  }
  if (entry.resident === true) {
    // The process the user started becomes pidvisor-keeper, which runs this command again as
    // its child (daemon/keeper.ts); that child takes the channel before anything spawns.
    const keeper = await import('../../daemon/keeper.js');
    if (!asksForHelp(rest)) keeper.runUnderKeeper(name as 'daemon' | 'init', rest);
    keeper.attachToKeeper();
    // Before the command's modules load: loading fastify alone grows the young generation.
    keepYoungGenerationSmall();
    interpretJavaScriptOnly();
    favourSmallHeap();
    const code = await runCommand(await entry.load(), rest);
    keeper.daemonStopping();
    return code;
  }
  return runCommand(await entry.load(), rest);
}

function asksForHelp(args: string[]): boolean {
  const options = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
  return options.includes('--help') || options.includes('-h');
}
