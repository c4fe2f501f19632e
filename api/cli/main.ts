// `pidvisor <command>`: the entry of the CLI. Each command lives in commands/.
import { VERSION } from '../../daemon/version.js';
import { EXIT, runCommand, type Command } from './command.js';
import { daemonCommand } from './commands/daemon.js';
import { initCommand } from './commands/init.js';
import { processCommands } from './commands/processes.js';
import { streamCommands } from './commands/streams.js';

const COMMANDS: Command[] = [daemonCommand, initCommand, ...processCommands, ...streamCommands];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `pidvisor ${VERSION}: a process supervisor that never signals the wrong process`,
    '',
    'Usage: pidvisor <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary.split('.')[0]}`),
    '',
    'Run `pidvisor <command> --help` for its options. Exit codes: 0 ok, 1 refused or failed,',
    '2 usage error, 3 daemon unreachable; `wait` exits with the process status.',
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
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    process.stderr.write(`pidvisor: unknown command ${JSON.stringify(name)}\n\n${usage()}\n`);
    return EXIT.usage;
  }
  return runCommand(command, rest);
}
