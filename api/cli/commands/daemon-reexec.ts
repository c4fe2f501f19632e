// `pidvisor daemon reexec`: upgrade the running daemon in place (POST /v1/system/reexec), then
// wait until the new daemon answers. A client command, in a file of its own: `pidvisor daemon`
// itself loads the whole daemon, which this needs none of.
import { ConnectionLostError, UnreachableError } from '../client.js';
import { EXIT, UsageError, type Command } from '../command.js';
import type { SystemInfo } from '../../../client/index.js';

const DEFAULT_TIMEOUT_S = 60;
const POLL_MS = 100;

export const daemonReexecCommand: Command = {
  name: 'daemon reexec',
  summary: 'Upgrade the running daemon in place: a new daemon and keeper, from the files on disk now, take over every service without restarting any.',
  usage: 'daemon reexec [--timeout SECONDS] [--json]',
  details: `The daemon stops accepting connections (its sockets stay open: requests made meanwhile
wait and are answered by the new daemon), answers what it had accepted, writes every byte
of output it had read to the logs (the rest stays in the pipes for the new daemon), syncs
its state, and exits. pidvisor-keeper re-executes its own binary from disk (same pid, same
children, every fd kept) and starts the new daemon, which takes over every service: same
pid, same instance, no restart. Install the new pidvisor first, then run this.

Waits until a daemon with another pid answers, and prints the old and the new pid.
Exit 0 then; 1 when the daemon refused (409 PIDVISOR_ERR_NO_KEEPER: it runs without the
keeper, PIDVISOR_KEEPER=off) or no new daemon answered in time (see the keeper's log on
the daemon's stderr); 3 when no daemon answered the request at all.

Options:
  --timeout SECONDS   how long to wait for the new daemon (default ${DEFAULT_TIMEOUT_S}, 1 to 3600)`,
  options: { timeout: { type: 'string' } },
  client: true,
  async run(context) {
    if (context.positionals.length > 0) throw new UsageError(`unexpected arguments: ${context.positionals.join(' ')}`);
    const timeoutS = parseTimeout(context.values.timeout as string | undefined);
    const began = Date.now();
    const accepted = await context.client.reexec();
    if (!context.json) process.stderr.write(`daemon ${accepted.daemonPid} is handing over to pidvisor-keeper ${accepted.keeperPid}; waiting for the new daemon...\n`);
    const next = await newDaemon(context.client.system.bind(context.client), accepted.daemonPid, began + timeoutS * 1000);
    if (next === null) {
      process.stderr.write(
        `pidvisor daemon reexec: no new daemon answered within ${timeoutS} s (daemon ${accepted.daemonPid} handed over to pidvisor-keeper ${accepted.keeperPid}: its log, on the daemon's stderr, says why)\n`,
      );
      return EXIT.failed;
    }
    const tookMs = Date.now() - began;
    if (context.json) {
      context.out(JSON.stringify({ oldDaemonPid: accepted.daemonPid, newDaemonPid: next.pid, keeperPid: accepted.keeperPid, services: next.services, version: next.version, tookMs }, null, 2));
    } else {
      context.out(
        `daemon re-executed: pid ${accepted.daemonPid} -> ${next.pid} (pidvisor ${next.version}); keeper ${accepted.keeperPid} re-executed in place; ${next.services} service${next.services === 1 ? '' : 's'} taken over, none restarted; ${tookMs} ms`,
      );
    }
    return EXIT.ok;
  },
};

function parseTimeout(value: string | undefined): number {
  if (value === undefined) return DEFAULT_TIMEOUT_S;
  if (!/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > 3600) throw new UsageError(`--timeout takes a number of seconds from 1 to 3600, not ${JSON.stringify(value)}`);
  return Number(value);
}

/**
 * The first answer of GET /v1/system from a daemon other than `oldPid`, or null at `deadline`.
 * Until the old daemon has exited its socket accepts nothing: a request waits in the backlog
 * and is answered by the new daemon; one that fails to connect or is reset is asked again.
 */
async function newDaemon(system: (options: { signal?: AbortSignal }) => Promise<SystemInfo>, oldPid: number, deadline: number): Promise<SystemInfo | null> {
  // Bounded by the deadline; each try is cut at the deadline too.
  while (Date.now() < deadline) {
    try {
      const info = await system({ signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
      if (info.pid !== oldPid) return info;
    } catch (error) {
      const transient = error instanceof UnreachableError || error instanceof ConnectionLostError || (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
      if (!transient) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return null;
}
