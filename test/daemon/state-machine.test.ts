// Every (state, event) pair of the lifecycle table has a stated outcome, checked here one by one.
import { describe, expect, it } from 'vitest';
import { EVENTS, STATES, transition, type Event, type State } from '../../daemon/state-machine.js';

// The expected action kind for every pair; 'reject:CODE' for rejections.
const EXPECTED: Record<State, Record<Event, string>> = {
  stopped: { start: 'spawn', stop: 'nop', restart: 'spawn', remove: 'forget', exit: 'nop', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'nop', treeGone: 'nop', dependencies: 'nop' },
  waiting: { start: 'spawn', stop: 'settle', restart: 'spawn', remove: 'forget', exit: 'nop', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'nop', treeGone: 'nop', dependencies: 'spawn' },
  blocked: { start: 'spawn', stop: 'settle', restart: 'spawn', remove: 'forget', exit: 'nop', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'nop', treeGone: 'nop', dependencies: 'spawn' },
  starting: { start: 'reject:ALREADY_RUNNING', stop: 'beginStop', restart: 'beginStop', remove: 'beginRemoval', exit: 'handleExit', stable: 'markRunning', backoffElapsed: 'nop', stopTimeout: 'nop', treeGone: 'nop', dependencies: 'nop' },
  running: { start: 'reject:ALREADY_RUNNING', stop: 'beginStop', restart: 'beginStop', remove: 'beginRemoval', exit: 'handleExit', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'nop', treeGone: 'nop', dependencies: 'nop' },
  stopping: { start: 'reject:STOPPING', stop: 'joinStop', restart: 'queueRestart', remove: 'joinRemoval', exit: 'nop', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'escalate', treeGone: 'finishStop', dependencies: 'nop' },
  exited: { start: 'spawn', stop: 'settle', restart: 'spawn', remove: 'forget', exit: 'nop', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'nop', treeGone: 'nop', dependencies: 'nop' },
  backoff: { start: 'cancelBackoff', stop: 'cancelBackoff', restart: 'cancelBackoff', remove: 'forget', exit: 'nop', stable: 'nop', backoffElapsed: 'spawn', stopTimeout: 'nop', treeGone: 'nop', dependencies: 'nop' },
  failed: { start: 'spawn', stop: 'settle', restart: 'spawn', remove: 'forget', exit: 'nop', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'nop', treeGone: 'nop', dependencies: 'nop' },
  removing: { start: 'reject:REMOVING', stop: 'joinStop', restart: 'reject:REMOVING', remove: 'joinStop', exit: 'nop', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'escalate', treeGone: 'finishRemoval', dependencies: 'nop' },
  removed: { start: 'reject:SERVICE_NOT_FOUND', stop: 'reject:SERVICE_NOT_FOUND', restart: 'reject:SERVICE_NOT_FOUND', remove: 'nop', exit: 'nop', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'nop', treeGone: 'nop', dependencies: 'nop' },
};

describe('lifecycle table', () => {
  const pairs = STATES.flatMap((state) => EVENTS.map((event) => [state, event] as const));

  it.each(pairs)('%s x %s', (state, event) => {
    const action = transition(state, event);
    const kind = action.kind === 'reject' ? `reject:${action.code}` : action.kind;
    expect(kind).toBe(EXPECTED[state][event]);
    if (action.kind === 'nop' || action.kind === 'reject') expect(action.reason.length).toBeGreaterThan(5);
  });

  it('covers every state and event, and nothing else', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...STATES].sort());
    for (const state of STATES) expect(Object.keys(EXPECTED[state]).sort()).toEqual([...EVENTS].sort());
  });

  it('restarts start again after the stop, and a start from backoff cancels the delay', () => {
    expect(transition('running', 'restart')).toEqual({ kind: 'beginStop', thenStart: true });
    expect(transition('running', 'stop')).toEqual({ kind: 'beginStop', thenStart: false });
    expect(transition('backoff', 'start')).toEqual({ kind: 'cancelBackoff', thenStart: true });
    expect(transition('backoff', 'stop')).toEqual({ kind: 'cancelBackoff', thenStart: false });
  });

  it('starts a parked service only through the gate, and only waiting and blocked services heed a dependency change', () => {
    for (const state of STATES) {
      const kind = transition(state, 'dependencies').kind;
      expect(kind, `${state} x dependencies`).toBe(state === 'waiting' || state === 'blocked' ? 'spawn' : 'nop');
    }
    // Nothing is left armed in a parked state: no late event starts it by another way.
    for (const state of ['waiting', 'blocked'] as const) {
      for (const event of ['exit', 'stable', 'backoffElapsed', 'stopTimeout', 'treeGone'] as const) expect(transition(state, event).kind).toBe('nop');
    }
  });

  it('never starts a service once its removal has begun: removed is terminal', () => {
    const starts = new Set(['spawn', 'beginStop', 'queueRestart', 'cancelBackoff', 'markRunning', 'handleExit', 'finishStop']);
    for (const state of ['removing', 'removed'] as const) {
      for (const event of EVENTS) expect(starts.has(transition(state, event).kind), `${state} x ${event}`).toBe(false);
    }
    for (const event of EVENTS) {
      const kind = transition('removed', event).kind;
      expect(kind === 'nop' || kind === 'reject', `removed x ${event}`).toBe(true);
    }
  });
});
