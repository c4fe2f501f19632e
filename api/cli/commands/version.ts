// `pidvisor version`: the version of this CLI (the daemon's is in GET /v1/system).
import { VERSION } from '../../../daemon/version.js';
import { EXIT, UsageError, type Command } from '../command.js';

export const versionCommand: Command = {
  name: 'version',
  summary: "Print the version of this pidvisor (the same as --version; the daemon's own is in GET /v1/system).",
  usage: 'version [--json]',
  details: `  --json              print {"version": "..."}`,
  options: { json: { type: 'boolean' } },
  client: false,
  async run(context) {
    if (context.positionals.length > 0) throw new UsageError(`unexpected arguments: ${context.positionals.join(' ')}`);
    context.out(context.json ? JSON.stringify({ version: VERSION }) : VERSION);
    return EXIT.ok;
  },
};
