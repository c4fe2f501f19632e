// The lifecycle of one service as a closed table: (state, event) -> action. Every pair is
// listed; a command that makes no sense in a state is an explicit rejection with a reason,
// and an event that arrives late (a timer that lost a race) is an explicit no-op.
//
// Removal is part of the table, not a flag beside it: `removing` stops the tree and refuses
// every command that would start it again, and `removed` is terminal. A restart that was
// waiting for a stop when a removal began is dropped, so a removed service can never start
// again and no child outlives the service that made it.
//
// Dependencies (dependencies.ts) are part of the table too: every `spawn` goes through the
// service's dependency gate, which either spawns or parks the service in `waiting` (a
// dependency has not met its condition yet) or `blocked` (a dependency cannot meet it until
// someone acts: it failed, exited, was stopped or removed). Both hold no process; the
// `dependencies` event (a dependency changed) runs the gate again. The gate decides between
// the three outcomes as the restart policy decides after an exit (handleExit).

export const STATES = ['stopped', 'waiting', 'blocked', 'starting', 'running', 'stopping', 'exited', 'backoff', 'failed', 'removing', 'removed'] as const;
export type State = (typeof STATES)[number];

export const EVENTS = [
  'start', // command
  'stop', // command
  'restart', // command
  'remove', // command: stop the tree, then forget the service
  'exit', // the main process ended by itself (not during a stop)
  'stable', // the instance has run for the start grace period
  'backoffElapsed', // the restart delay is over
  'stopTimeout', // the stop signal did not end the tree in time
  'treeGone', // during a stop: the main process and everything it started are gone
  'dependencies', // a dependency changed (state, health, created, removed): check the gate again
] as const;
export type Event = (typeof EVENTS)[number];

export type Action =
  | { kind: 'spawn' } // through the dependency gate: a new instance, or waiting/blocked with the reason
  | { kind: 'beginStop'; thenStart: boolean } // send the stop signal, arm the stop timeout
  | { kind: 'beginRemoval' } // as beginStop, in state removing: nothing starts again
  | { kind: 'queueRestart' } // already stopping: start again once stopped
  | { kind: 'joinStop' } // already stopping: the caller waits for the same stop
  | { kind: 'joinRemoval' } // already stopping: the stop becomes a removal; a queued restart is dropped
  | { kind: 'handleExit' } // record the exit; restart policy decides: backoff, failed or exited
  | { kind: 'markRunning' }
  | { kind: 'escalate' } // SIGKILL the whole tree
  | { kind: 'finishStop' } // stopped, or spawn again when a restart was queued
  | { kind: 'finishRemoval' } // the tree of a removal is gone: removed
  | { kind: 'cancelBackoff'; thenStart: boolean }
  | { kind: 'settle' } // exited or failed -> stopped, nothing runs
  | { kind: 'forget' } // nothing runs (a pending backoff is cancelled): removed at once
  | { kind: 'nop'; reason: string }
  | { kind: 'reject'; code: RejectCode; reason: string };

export type RejectCode = 'ALREADY_RUNNING' | 'STOPPING' | 'REMOVING' | 'SERVICE_NOT_FOUND';

const nop = (reason: string): Action => ({ kind: 'nop', reason });
const stale = nop('a late event for an instance that is no longer current');
const reject = (code: RejectCode, reason: string): Action => ({ kind: 'reject', code, reason });
const beingRemoved = reject('REMOVING', 'the service is being removed; it will not start again');
const gone = reject('SERVICE_NOT_FOUND', 'the service has been removed');

type Row = Record<Event, Action>;

const whileRunning: Row = {
  start: reject('ALREADY_RUNNING', 'the service is already running'),
  stop: { kind: 'beginStop', thenStart: false },
  restart: { kind: 'beginStop', thenStart: true },
  remove: { kind: 'beginRemoval' },
  exit: { kind: 'handleExit' },
  stable: nop('already running'),
  backoffElapsed: stale,
  stopTimeout: stale,
  treeGone: stale,
  dependencies: nop('running: a dependency that changes later does not stop it (see dependsOn restart: propagate)'),
};

const notRunning = (state: 'exited' | 'failed'): Row => ({
  start: { kind: 'spawn' },
  stop: { kind: 'settle' },
  restart: { kind: 'spawn' },
  remove: { kind: 'forget' },
  exit: stale,
  stable: stale,
  backoffElapsed: stale,
  stopTimeout: stale,
  treeGone: nop(`already ${state}`),
  dependencies: nop(`${state}: nothing waits to start`),
});

// Waiting for the dependencies, or blocked by one: no process, nothing armed but the gate.
const parked = (state: 'waiting' | 'blocked'): Row => ({
  start: { kind: 'spawn' }, // the gate again, at once (a request may have started the dependency)
  stop: { kind: 'settle' },
  restart: { kind: 'spawn' },
  remove: { kind: 'forget' },
  exit: stale,
  stable: stale,
  backoffElapsed: stale,
  stopTimeout: stale,
  treeGone: nop(`nothing runs while ${state}`),
  dependencies: { kind: 'spawn' },
});

export const TRANSITIONS: Readonly<Record<State, Row>> = {
  stopped: {
    start: { kind: 'spawn' },
    stop: nop('already stopped'),
    restart: { kind: 'spawn' },
    remove: { kind: 'forget' },
    exit: stale,
    stable: stale,
    backoffElapsed: stale,
    stopTimeout: stale,
    treeGone: nop('already stopped'),
    dependencies: nop('stopped: nothing waits to start'),
  },
  waiting: parked('waiting'),
  blocked: parked('blocked'),
  starting: { ...whileRunning, stable: { kind: 'markRunning' } },
  running: whileRunning,
  stopping: {
    start: reject('STOPPING', 'the service is stopping; start it once it has stopped, or ask for a restart'),
    stop: { kind: 'joinStop' },
    restart: { kind: 'queueRestart' },
    remove: { kind: 'joinRemoval' },
    exit: nop('during a stop the exit is part of the stop; treeGone ends it'),
    stable: stale,
    backoffElapsed: stale,
    stopTimeout: { kind: 'escalate' },
    treeGone: { kind: 'finishStop' },
    // A queued restart meets the gate when the stop ends (finishStop).
    dependencies: nop('stopping: the gate is checked if it starts again'),
  },
  exited: notRunning('exited'),
  backoff: {
    start: { kind: 'cancelBackoff', thenStart: true },
    stop: { kind: 'cancelBackoff', thenStart: false },
    restart: { kind: 'cancelBackoff', thenStart: true },
    remove: { kind: 'forget' },
    exit: stale,
    stable: stale,
    backoffElapsed: { kind: 'spawn' },
    stopTimeout: stale,
    treeGone: nop('nothing runs during a backoff'),
    // The delay runs on; the gate is checked when it is over.
    dependencies: nop('backing off: the gate is checked when the delay is over'),
  },
  failed: notRunning('failed'),
  removing: {
    start: beingRemoved,
    // A stop or a second removal waits for the removal's stop: the tree is gone after it.
    stop: { kind: 'joinStop' },
    restart: beingRemoved,
    remove: { kind: 'joinStop' },
    exit: nop('during a removal the exit is part of the stop; treeGone ends it'),
    stable: stale,
    backoffElapsed: stale,
    stopTimeout: { kind: 'escalate' },
    treeGone: { kind: 'finishRemoval' },
    dependencies: nop('being removed: it will not start again'),
  },
  removed: {
    start: gone,
    stop: gone,
    restart: gone,
    remove: nop('already removed'),
    exit: stale,
    stable: stale,
    backoffElapsed: stale,
    stopTimeout: stale,
    treeGone: nop('already removed'),
    dependencies: nop('removed: it will not start again'),
  },
};

export function transition(state: State, event: Event): Action {
  return TRANSITIONS[state][event];
}
