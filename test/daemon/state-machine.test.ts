// Every (state, event) pair of the lifecycle table has a stated outcome, checked here one by one.
import { describe, expect, it } from 'vitest';
import { EVENTS, STATES, transition, type Event, type State } from '../../daemon/state-machine.js';

// The expected action kind for every pair; 'reject:CODE' for rejections.
const EXPECTED: Record<State, Record<Event, string>> = {
  stopped: { start: 'spawn', stop: 'nop', restart: 'spawn', exit: 'nop', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'nop', treeGone: 'nop' },
  starting: { start: 'reject:ALREADY_RUNNING', stop: 'beginStop', restart: 'beginStop', exit: 'handleExit', stable: 'markRunning', backoffElapsed: 'nop', stopTimeout: 'nop', treeGone: 'nop' },
  running: { start: 'reject:ALREADY_RUNNING', stop: 'beginStop', restart: 'beginStop', exit: 'handleExit', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'nop', treeGone: 'nop' },
  stopping: { start: 'reject:STOPPING', stop: 'joinStop', restart: 'queueRestart', exit: 'nop', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'escalate', treeGone: 'finishStop' },
  exited: { start: 'spawn', stop: 'settle', restart: 'spawn', exit: 'nop', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'nop', treeGone: 'nop' },
  backoff: { start: 'cancelBackoff', stop: 'cancelBackoff', restart: 'cancelBackoff', exit: 'nop', stable: 'nop', backoffElapsed: 'spawn', stopTimeout: 'nop', treeGone: 'nop' },
  failed: { start: 'spawn', stop: 'settle', restart: 'spawn', exit: 'nop', stable: 'nop', backoffElapsed: 'nop', stopTimeout: 'nop', treeGone: 'nop' },
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
});
