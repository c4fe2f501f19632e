// The event log: monotonic sequence numbers, bounded memory, and resumption without gaps or repeats.
import { describe, expect, it } from 'vitest';
import { EventLog, type SupervisorEvent } from '../../daemon/events.js';

const service = { id: 'abc', name: 'svc' };

describe('event log', () => {
  it('numbers events from 1 and resumes after any sequence number', () => {
    const log = new EventLog(100);
    for (let i = 0; i < 10; i++) log.append({ type: 'state', service, to: `s${i}` });
    expect(log.lastSeq).toBe(10);
    expect(log.since(0).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(log.since(7).map((e) => e.seq)).toEqual([8, 9, 10]);
    expect(log.since(10)).toEqual([]);
  });

  it('keeps only the newest events and says when a resume has a gap', () => {
    const log = new EventLog(5);
    for (let i = 0; i < 12; i++) log.append({ type: 'state', service });
    expect(log.since(0).map((e) => e.seq)).toEqual([8, 9, 10, 11, 12]);
    const late = log.subscribe(2, () => {});
    expect(late.gap).toBe(true);
    const current = log.subscribe(9, () => {});
    expect(current.gap).toBe(false);
    expect(current.backlog.map((e) => e.seq)).toEqual([10, 11, 12]);
  });

  it('delivers backlog then live events with no gap and no repeat', () => {
    const log = new EventLog(100);
    for (let i = 0; i < 3; i++) log.append({ type: 'state', service });
    const seen: SupervisorEvent[] = [];
    const subscription = log.subscribe(1, (event) => seen.push(event));
    seen.unshift(...subscription.backlog);
    log.append({ type: 'state', service });
    subscription.unsubscribe();
    log.append({ type: 'state', service });
    expect(seen.map((e) => e.seq)).toEqual([2, 3, 4]);
  });
});
