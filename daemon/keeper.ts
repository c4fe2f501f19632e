// How `pidvisor daemon` and `pidvisor init` run under pidvisor-keeper (native/keeper/keeper.c):
//
//   1. The CLI, started by the user, execs into the keeper (same pid, every signal blocked
//      across the exec), passing its own node, node options and script.
//   2. The keeper starts `node [options] pidvisor.js daemon|init ...` again as its child, with
//      the channel as fd 3 (PIDVISOR_KEEPER_FD).
//   3. That daemon takes the channel (and the env the keeper added) at start, installs its
//      handlers, then says READY. Until then the keeper holds every signal meant for it: Node
//      clears the signal mask it inherits and resets dispositions before any JS runs, so a
//      signal passed on earlier would act by default (SIGTERM kills, SIGUSR1 opens the inspector).
//   4. When it exits on purpose it says STOPPING; the keeper then exits with its status.
//      Any other end of a daemon that had started is a crash: the keeper starts a new one.
//
// PIDVISOR_KEEPER=off runs without a keeper (the daemon is then the process the user started).
import { execKeeper, KeeperChannel, keeperExecutable } from '../native/keeper-channel.js';
import { PROTOCOL } from '../native/keeper-protocol.js';

export interface InheritedSignals {
  /** Signals blocked where the keeper was started, bit n-1 for signal n (as /proc's SigBlk). */
  blocked: bigint;
  /** Signals ignored there (SigIgn). */
  ignored: bigint;
}

let channel: KeeperChannel | null = null;
let inherited: InheritedSignals | null = null;

/**
 * Execs into the keeper unless this process already runs under one or it is turned off.
 * Returns only when it does not exec.
 */
export function runUnderKeeper(command: 'daemon' | 'init', args: string[]): void {
  if (process.env[PROTOCOL.envFd] !== undefined || process.env.PIDVISOR_KEEPER === 'off') return;
  const executable = keeperExecutable();
  if (executable.path === null) {
    throw new Error(`pidvisor-keeper is missing (run \`npm install\` to build it, or set PIDVISOR_KEEPER=off). Tried:\n  ${executable.tried.join('\n  ')}`);
  }
  // Node reset every disposition as it started and execKeeper blocks every signal for the
  // exec: what the keeper would find is not what the user started pidvisor with.
  const argv = [executable.path, '--no-inherited-signals', '--node', process.execPath, ...process.execArgv.flatMap((option) => ['--node-option', option]), '--script', process.argv[1]!, command, ...args];
  execKeeper(executable.path, argv, process.env);
}

/**
 * Under a keeper: takes the channel and the inherited signal configuration from the env, and
 * removes them from it, so that no service inherits them. Call once, before anything spawns.
 */
export function attachToKeeper(): KeeperChannel | null {
  const fd = process.env[PROTOCOL.envFd];
  const signals = process.env[PROTOCOL.envInheritedSignals];
  delete process.env[PROTOCOL.envFd];
  delete process.env[PROTOCOL.envInheritedSignals];
  if (fd === undefined) return channel;
  if (!/^\d+$/.test(fd)) throw new Error(`${PROTOCOL.envFd} is not an fd: ${JSON.stringify(fd)}`);
  channel = new KeeperChannel(Number(fd));
  const match = signals === undefined ? null : /^blocked:([0-9a-f]{16}),ignored:([0-9a-f]{16})$/.exec(signals);
  if (match !== null) inherited = { blocked: BigInt(`0x${match[1]}`), ignored: BigInt(`0x${match[2]}`) };
  return channel;
}

/** The channel to the keeper this daemon runs under, or null. */
export function keeperChannel(): KeeperChannel | null {
  return channel;
}

/** The signal configuration the keeper was started with, or null without a keeper. */
export function inheritedSignals(): InheritedSignals | null {
  return inherited;
}

/**
 * The daemon's handlers exist: the keeper may now pass on the signals it held (and counts the
 * daemon as started: one that dies from now on is restarted). Without a keeper, nothing to do.
 */
export function daemonStarted(): void {
  channel?.ready().catch(() => {
    // The keeper is gone: the daemon goes on; there is nobody to tell.
  });
}

/** The daemon exits on purpose (after a clean stop, or a start that failed): no restart. */
export function daemonStopping(): void {
  channel?.stopping();
}
