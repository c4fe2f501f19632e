// What every CLI command is: its name, its help, its options, and what it runs. Options
// shared by every client command (where the daemon is, output format) are parsed here.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { defaultSocketPath } from '../../daemon/paths.js';
import type { PidvisorClient } from './client.js';

/** Exit codes of the CLI; `wait` instead exits with the process's own status. */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandContext {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
  /** pidvisor/client, connected as the flags say (typed methods; `json()` for any other route). */
  client: PidvisorClient;
  json: boolean;
  out: (text: string) => void;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Extra lines of help after the options. */
  details?: string;
  options: Options;
  /** Does the command talk to a daemon (and take --socket/--url)? */
  client: boolean;
  run(context: CommandContext): Promise<number>;
}

export const CLIENT_OPTIONS: Options = {
  socket: { type: 'string' },
  url: { type: 'string' },
  'token-file': { type: 'string' },
  'ca-file': { type: 'string' },
  json: { type: 'boolean' },
};

const CLIENT_HELP = `Connection:
  --socket PATH       the daemon's unix socket (default: $PIDVISOR_SOCKET, else ${defaultSocketPath()})
  --url URL           a TCP listener instead (needs --token-file): https://HOST:PORT, or
                      http://127.0.0.1:PORT; http:// to any other host is refused, as
                      the token would cross the network in clear text
  --token-file FILE   bearer token for --url
  --ca-file FILE      PEM certificate(s) to trust for an https:// --url besides Node's CA
                      store (e.g. the daemon's self-signed certificate)
  --json              print JSON instead of text`;

export function helpText(command: Command): string {
  const lines = [`Usage: pidvisor ${command.usage}`, '', command.summary];
  if (command.details !== undefined) lines.push('', command.details);
  if (command.client) lines.push('', CLIENT_HELP);
  lines.push('  -h, --help          this help');
  return lines.join('\n');
}

export async function runCommand(command: Command, argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...command.options, ...(command.client ? CLIENT_OPTIONS : {}), help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    process.stderr.write(`pidvisor ${command.name}: ${(error as Error).message}\n\n${helpText(command)}\n`);
    return EXIT.usage;
  }
  if (parsed.values.help === true) {
    process.stdout.write(`${helpText(command)}\n`);
    return EXIT.ok;
  }
  const values = parsed.values as CommandContext['values'];
  let client: PidvisorClient;
  try {
    client = command.client ? await clientFor(values) : notConnected(command.name);
  } catch (error) {
    process.stderr.write(`pidvisor ${command.name}: ${(error as Error).message}\n`);
    return EXIT.usage;
  }
  try {
    return await command.run({ values, positionals: parsed.positionals, client, json: values.json === true, out: (text) => process.stdout.write(`${text}\n`) });
  } catch (error) {
    return reportFailure(command.name, error);
  }
}

// The client (and with it node:http, https, tls) is loaded only by the commands that talk to a
// daemon: `init` and `daemon` start faster without it.
async function clientFor(values: CommandContext['values']): Promise<PidvisorClient> {
  const { clientFromFlags } = await import('./client.js');
  return clientFromFlags({
    socket: values.socket as string | undefined,
    url: values.url as string | undefined,
    tokenFile: values['token-file'] as string | undefined,
    caFile: values['ca-file'] as string | undefined,
  });
}

/** The client of a command that talks to no daemon (client: false): using it is a bug of that command. */
function notConnected(name: string): PidvisorClient {
  return new Proxy({} as PidvisorClient, {
    get(_target, property) {
      throw new Error(`pidvisor ${name} talks to no daemon: it has no client (used: ${String(property)})`);
    },
  });
}

export class UsageError extends Error {}

async function reportFailure(name: string, error: unknown): Promise<number> {
  if (error instanceof UsageError) {
    process.stderr.write(`pidvisor ${name}: ${error.message}\n`);
    return EXIT.usage;
  }
  // The client's errors come only from commands that loaded it: loading it here costs nothing more.
  const { ApiError, ConnectionLostError, UnreachableError } = await import('./client.js');
  if (error instanceof UnreachableError || error instanceof ConnectionLostError) {
    process.stderr.write(`pidvisor ${name}: ${error.message}\n`);
    return EXIT.unreachable;
  }
  if (error instanceof ApiError) {
    process.stderr.write(`pidvisor ${name}: ${error.message} (${error.code})\n`);
    return EXIT.failed;
  }
  process.stderr.write(`pidvisor ${name}: ${(error as Error).stack ?? String(error)}\n`);
  return EXIT.failed;
}

/** The one positional a command needs (a service id or name). */
export function requireTarget(context: CommandContext, what = 'a process id or name'): string {
  const [target, ...extra] = context.positionals;
  if (target === undefined) throw new UsageError(`missing ${what}`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  return target;
}
