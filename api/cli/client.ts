// The CLI's client is pidvisor/client (client/), made here from the connection flags
// (--socket, --url, --token-file, --ca-file) that every client command takes.
import fs from 'node:fs';
import { defaultSocketPath } from '../../daemon/paths.js';
import { PidvisorClient } from '../../client/index.js';

export { ApiError, ConnectionLostError, InsecureUrlError, PidvisorClient, UnreachableError, isProblem } from '../../client/index.js';

/**
 * A command retries what is safe to retry (client/retry.ts) a little (300 ms in all), so that
 * `pidvisor ps` with no daemon says so at once rather than after the library's longer wait.
 */
const CLI_RETRY = { attempts: 3, initialDelayMs: 100 } as const;

export interface ConnectionFlags {
  socket?: string;
  url?: string;
  tokenFile?: string;
  caFile?: string;
}

/** The client the flags describe; an Error with the message for the user when they do not fit together. */
export function clientFromFlags(flags: ConnectionFlags): PidvisorClient {
  if (flags.url !== undefined) {
    if (flags.tokenFile === undefined) throw new Error('--url needs --token-file');
    return new PidvisorClient({ url: flags.url, token: readToken(flags.tokenFile), ...(flags.caFile === undefined ? {} : { caFile: flags.caFile }), retry: CLI_RETRY });
  }
  if (flags.caFile !== undefined) throw new Error('--ca-file goes with an https:// --url');
  return new PidvisorClient({ socketPath: flags.socket ?? defaultSocketPath(), retry: CLI_RETRY });
}

/** A token from a file, trimmed of the trailing newline editors add. */
export function readToken(file: string): string {
  return fs.readFileSync(file, 'utf8').trim();
}
