// The lifecycle of one service as a closed table: (state, event) -> action. Every pair is
// listed; a command that makes no sense in a state is an explicit rejection with a reason,
// and an event that arrives late (a timer that lost a race) is an explicit no-op.

export const STATES = ['stopped', 'starting', 'running', 'stopping', 'exited', 'backoff', 'failed'] as const;
export type State = (typeof STATES)[number];

export const EVENTS = [
  'start', // command
  'stop', // command
  'restart', // command
  'exit', // the main process ended by itself (not during a stop)
  'stable', // the instance has run for the start grace period
  'backoffElapsed', // the restart delay is over
  'stopTimeout', // the stop signal did not end the tree in time
  'treeGone', // during a stop: the main process and everything it started are gone
] as const;
export type Event = (typeof EVENTS)[number];

export type Action =
  | { kind: 'spawn' } // start a new instance (from stopped, exited, backoff, failed)
  | { kind: 'beginStop'; thenStart: boolean } // send the stop signal, arm the stop timeout
  | { kind: 'queueRestart' } // already stopping: start again once stopped
  | { kind: 'joinStop' } // already stopping: the caller waits for the same stop
  | { kind: 'handleExit' } // record the exit; restart policy decides: backoff, failed or exited
  | { kind: 'markRunning' }
  | { kind: 'escalate' } // SIGKILL the whole tree
  | { kind: 'finishStop' } // stopped, or spawn again when a restart was queued
  | { kind: 'cancelBackoff'; thenStart: boolean }
  | { kind: 'settle' } // exited or failed -> stopped, nothing runs
  | { kind: 'nop'; reason: string }
  | { kind: 'reject'; code: RejectCode; reason: string };

export type RejectCode = 'ALREADY_RUNNING' | 'STOPPING';

const nop = (reason: string): Action => ({ kind: 'nop', reason });
const stale = nop('a late event for an instance that is no longer current');
const reject = (code: RejectCode, reason: string): Action => ({ kind: 'reject', code, reason });

type Row = Record<Event, Action>;

const whileRunning: Row = {
  start: reject('ALREADY_RUNNING', 'the service is already running'),
  stop: { kind: 'beginStop', thenStart: false },
  restart: { kind: 'beginStop', thenStart: true },
  exit: { kind: 'handleExit' },
  stable: nop('already running'),
  backoffElapsed: stale,
  stopTimeout: stale,
  treeGone: stale,
};

const notRunning = (state: 'exited' | 'failed'): Row => ({
  start: { kind: 'spawn' },
  stop: { kind: 'settle' },
  restart: { kind: 'spawn' },
  exit: stale,
  stable: stale,
  backoffElapsed: stale,
  stopTimeout: stale,
  treeGone: nop(`already ${state}`),
});

export const TRANSITIONS: Readonly<Record<State, Row>> = {
  stopped: {
    start: { kind: 'spawn' },
    stop: nop('already stopped'),
    restart: { kind: 'spawn' },
    exit: stale,
    stable: stale,
    backoffElapsed: stale,
    stopTimeout: stale,
    treeGone: nop('already stopped'),
  },
  starting: { ...whileRunning, stable: { kind: 'markRunning' } },
  running: whileRunning,
  stopping: {
    start: reject('STOPPING', 'the service is stopping; start it once it has stopped, or ask for a restart'),
    stop: { kind: 'joinStop' },
    restart: { kind: 'queueRestart' },
    exit: nop('during a stop the exit is part of the stop; treeGone ends it'),
    stable: stale,
    backoffElapsed: stale,
    stopTimeout: { kind: 'escalate' },
    treeGone: { kind: 'finishStop' },
  },
  exited: notRunning('exited'),
  backoff: {
    start: { kind: 'cancelBackoff', thenStart: true },
    stop: { kind: 'cancelBackoff', thenStart: false },
    restart: { kind: 'cancelBackoff', thenStart: true },
    exit: stale,
    stable: stale,
    backoffElapsed: { kind: 'spawn' },
    stopTimeout: stale,
    treeGone: nop('nothing runs during a backoff'),
  },
  failed: notRunning('failed'),
};

export function transition(state: State, event: Event): Action {
  return TRANSITIONS[state][event];
}
