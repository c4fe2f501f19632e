// Which process to measure when a bench started `pidvisor daemon`. By default the CLI execs
// into pidvisor-keeper (daemon/keeper.ts): the pid the bench started is then the keeper (about
// 2 MiB, no JS), and the Node daemon is the keeper's child. Sampling the started pid measured
// the keeper, not the daemon. With PIDVISOR_KEEPER=off (or the bench's own daemon host) the
// started pid is the daemon and there is no keeper.
import fs from 'node:fs';
import path from 'node:path';

export interface DaemonProcesses {
  /** The Node daemon: the process whose RSS and CPU are pidvisor's. */
  daemon: number;
  /** pidvisor-keeper above it, or null when the daemon runs without one. */
  keeper: number | null;
}

const KEEPER_EXE = 'pidvisor-keeper';

/** True when `pid` runs the keeper binary (its exe, not its comm: comm is truncated to 15 bytes). */
export function isKeeper(pid: number): boolean {
  try {
    return path.basename(fs.readlinkSync(`/proc/${pid}/exe`)) === KEEPER_EXE;
  } catch {
    return false;
  }
}

/** The pids of `pid`'s children (every thread's list: a child belongs to the thread that made it). */
export function childrenOf(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const task of tasks) {
    try {
      for (const child of fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(' ')) if (child !== '') out.push(Number(child));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** The keeper's child that runs node (the daemon), or null while there is none. */
function nodeChildOf(keeper: number): number | null {
  for (const child of childrenOf(keeper)) {
    try {
      if (path.basename(fs.readlinkSync(`/proc/${child}/exe`)).startsWith('node')) return child;
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/**
 * Resolves the started pid into the daemon and its keeper. Call once the daemon answers (its
 * socket is up): under a keeper, the Node child exists by then. Throws when the started pid is
 * a keeper with no Node child (the daemon died and the keeper has not started the next yet).
 */
export function daemonProcesses(startedPid: number): DaemonProcesses {
  if (!isKeeper(startedPid)) return { daemon: startedPid, keeper: null };
  const daemon = nodeChildOf(startedPid);
  if (daemon === null) throw new Error(`pidvisor-keeper (pid ${startedPid}) has no Node daemon child`);
  return { daemon, keeper: startedPid };
}
