// `pidvisor daemon reexec` and POST /v1/system/reexec: an upgrade of pidvisor that restarts no
// service. This daemon hands everything to pidvisor-keeper and exits; the keeper re-executes
// itself from disk (so a new keeper binary takes over too, with its fd store and children) and
// starts the new daemon, which takes everything over as after a crash (take-over.ts,
// keeper-link.ts): same pids, same instances, no restart.
//
// What the keeper holds is already deposited as things happen: every instance's pidfd, every
// output pipe's read end, every listening socket. What only this process holds is handed over
// here, in this order (from step 1 on, the keeper keeps everything deposited: nothing is
// withdrawn, so the pipes of an instance that ends meanwhile stay for the next daemon to read):
//   1. The API stops accepting (the listening sockets stay open: the keeper's copies keep the
//      backlog, and clients connecting now wait there for the next daemon), answers what it
//      accepted, then lets the connections go (api/server/quiesce.ts).
//   2. Every service's log capture stops reading its pipes (what is still in a pipe stays for
//      the next daemon, which reads the same pipes), and what it had read goes to disk
//      (ServiceLogs.suspend): no captured byte is lost or written twice. A service restarted
//      meanwhile attaches to a capture that no longer reads, so the loop checks again.
//   3. In one synchronous step, so that nothing changes in between: the state journal is
//      synced and closed, the state dir's lock released, REEXEC sent (after every deposit
//      still queued), and the process exits, without closing its servers (closing a unix
//      socket server that libuv bound unlinks the socket's path; process.exit closes no handle).
// Signals that arrive meanwhile are not acted on here (a stop would stop the services this
// hand-over keeps, a reload would race it) but passed on: from the start of the hand-over the
// keeper holds every signal meant for this daemon (HANDING_OVER), and those that reach this
// process directly go to the keeper too (passOn); the new daemon gets them all once it has taken
// everything over (READY), and stops or reloads then. A PID 1 or a systemd unit stopped during
// an upgrade thus stops a moment later, instead of waiting for SIGKILL.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { KeeperChannel } from '../native/keeper-channel.js';
import { SupervisorError } from './errors.js';
import type { KeeperLink } from './keeper-link.js';
import type { ServiceLogs } from './logs/service-logs.js';
import type { Supervisor } from './supervisor.js';

/** What a reexec request is told once the hand-over has begun. */
export interface ReexecAccepted {
  /** This daemon, which exits once everything is handed over. */
  daemonPid: number;
  /** pidvisor-keeper, which re-executes itself (same pid) and starts the next daemon. */
  keeperPid: number;
}

export interface HandOverParts {
  logger: Logger;
  supervisor: Supervisor;
  /** The channel to the keeper; null without one (PIDVISOR_KEEPER=off, a daemon started as a library). */
  channel: KeeperChannel | null;
  /** This daemon's use of the keeper's store (withdraws nothing once the hand-over begins). */
  keeper: KeeperLink | null;
  /** Stops the API accepting and resolves once what it accepted is answered (null: no API). */
  quiesceApi: (() => Promise<{ forced: number }>) | null;
  /** Syncs and closes the state journal, releases the state dir: synchronous. */
  closeState: () => void;
  /** Ends the process without closing any handle (process.exit). */
  exit: (code: number) => void;
}

// A restart during the hand-over can attach new output to a capture: each round drains that.
const LOG_ROUNDS = 10;

export class Reexec {
  readonly #parts: HandOverParts;
  #started = false;
  readonly #passedOn: number[] = [];

  constructor(parts: HandOverParts) {
    this.#parts = parts;
  }

  /** The hand-over has begun: this daemon will exit without stopping anything. */
  get handingOver(): boolean {
    return this.#started;
  }

  /**
   * Begins the hand-over and says so at once (the API answers 202 before it stops accepting).
   * Throws NO_KEEPER without a keeper (or with one that is gone), HANDING_OVER when one has begun.
   */
  request(): ReexecAccepted {
    const { channel } = this.#parts;
    if (channel === null || channel.closed) {
      throw new SupervisorError(
        'NO_KEEPER',
        channel === null
          ? 'this daemon runs without pidvisor-keeper (PIDVISOR_KEEPER=off): nothing would hold its services while a new daemon starts; start it without PIDVISOR_KEEPER=off to upgrade in place'
          : 'the channel to pidvisor-keeper is closed (the keeper is gone): nothing would start the next daemon',
      );
    }
    if (this.#started) throw new SupervisorError('HANDING_OVER', 'the daemon is already handing over to a new one');
    this.#started = true;
    // From now on the keeper holds this daemon's signals for the next one.
    channel.handingOver([]).catch(() => {}); // a closed channel fails the REEXEC below, which says so
    // From now on an instance that ends keeps its output pipes in the keeper: its capture
    // stops reading below, and the next daemon reads what it left (keeper-link.ts).
    this.#parts.keeper?.handOver();
    const accepted = { daemonPid: process.pid, keeperPid: process.ppid };
    this.#parts.logger.info({ keeperPid: accepted.keeperPid }, 'reexec: handing everything over to the keeper for a new daemon');
    void this.#handOver(channel);
    return accepted;
  }

  /**
   * During a hand-over: `signal` (a stop, a reload) reached this process, which acts on none
   * now; the keeper hands it to the new daemon once that one has taken over. False when no
   * hand-over is under way (act on it here).
   */
  passOn(signal: NodeJS.Signals): boolean {
    if (!this.#started) return false;
    const { channel, logger } = this.#parts;
    this.#passedOn.push(os.constants.signals[signal]);
    if (channel !== null && !channel.closed) channel.handingOver(this.#passedOn).catch(() => {});
    logger.info({ signal }, 'signal during a hand-over: the new daemon acts on it once it has taken over');
    return true;
  }

  async #handOver(channel: KeeperChannel): Promise<void> {
    const { logger, supervisor, quiesceApi, closeState, exit } = this.#parts;
    const began = performance.now();
    try {
      const api = quiesceApi === null ? { forced: 0 } : await quiesceApi();
      if (api.forced > 0) logger.warn({ connections: api.forced }, 'reexec: connections still open after the drain were closed');
      const apiMs = performance.now() - began;
      const logs = await suspendLogs(supervisor);
      const handOverMs = Math.round(performance.now() - began);
      // From here to the exit, one synchronous step: no event can change the state between
      // the journal's last record and the keeper's REEXEC.
      closeState();
      if (!channel.reexec()) throw new Error('REEXEC could not be sent: the channel to the keeper closed');
      logger.info({ apiMs: Math.round(apiMs), handOverMs, logRounds: logs.rounds, logsQueued: logs.queued }, 'reexec: handed over; exiting for the keeper to start the new daemon');
    } catch (error) {
      // Half handed over (API deaf, logs not read): going on would serve nobody. The keeper
      // then treats the exit as a crash and starts a new daemon all the same.
      logger.fatal({ err: error }, 'reexec: the hand-over failed; exiting, the keeper restarts the daemon');
      exit(1);
      return;
    }
    exit(0);
  }
}

/** Stops every capture reading and waits until what they hold is on disk. */
async function suspendLogs(supervisor: Supervisor): Promise<{ rounds: number; queued: number }> {
  let queued = 0;
  for (let round = 1; round <= LOG_ROUNDS; round++) {
    const captures = supervisor
      .list()
      .map(({ id }) => supervisor.service(id).logs)
      .filter((logs): logs is ServiceLogs => logs !== null);
    await Promise.all(captures.map((logs) => logs.suspend()));
    queued = captures.reduce((sum, logs) => sum + logs.stats().queuedBytes, 0);
    if (queued === 0) return { rounds: round, queued };
  }
  return { rounds: LOG_ROUNDS, queued };
}
