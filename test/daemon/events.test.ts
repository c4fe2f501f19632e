// The event log: monotonic sequence numbers, bounded memory, and resumption without gaps or repeats.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EventLog, type EventInput, type SupervisorEvent } from '../../daemon/events.js';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { createTestSupervisor, waitForState } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();

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

describe('event log records', () => {
  // Every shape the daemon appends, in its call sites' field order (the order JSON.stringify keeps).
  const shapes: EventInput[] = [
    { type: 'created', service },
    { type: 'state', service, from: 'stopped', to: 'starting', reason: 'started; running once up for 1000 ms', pid: 42, instance: '42.a' },
    { type: 'ready', service, reason: 'running for 1000 ms', pid: 42, instance: '42.a' },
    { type: 'health', service, health: 'unhealthy', reason: 'exec probe: exit 1', pid: 42, instance: '42.a' },
    { type: 'status', service, statusText: 'busy "x"\n', pid: 42, instance: '42.a' },
    { type: 'exit', service, pid: 42, instance: '42.a', exit: { instance: '42.a', pid: 42, code: 0, signal: null, rusage: { userCpuMicros: 1 }, endedAt: '2026-01-01T00:00:00.000Z' } },
    { type: 'spawn-failed', service, reason: 'ENOENT', exit: { error: { errno: 2 } } },
    { type: 'log-write-failed', service, reason: 'ENOSPC', logs: { file: '/x', droppedBytes: 1, droppedRecords: 1, writeFailures: 1 } },
    { type: 'reloaded', service: { id: 'def', name: null }, changed: ['env.PATH', 'restart.policy'] },
    { type: 'removed', service },
  ];

  it('reads back every event byte for byte as it was delivered, across the wrap of the ring', () => {
    const log = new EventLog(7);
    const delivered: string[] = [];
    log.subscribe(0, (event) => delivered.push(JSON.stringify(event)));
    for (let i = 0; i < 31; i++) log.append({ ...shapes[i % shapes.length]! });
    expect(delivered).toHaveLength(31);
    expect(JSON.parse(delivered[0]!).time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    for (let after = 0; after <= 32; after++) {
      const expected = delivered.slice(Math.max(after, 24));
      expect(log.since(after).map((event) => JSON.stringify(event)), `since(${after})`).toEqual(expected);
    }
    const resumed = log.subscribe(26, () => {});
    expect(resumed.gap).toBe(false);
    expect(resumed.backlog.map((event) => JSON.stringify(event))).toEqual(delivered.slice(26));
    expect(log.subscribe(20, () => {}).gap).toBe(true);
  });

  it('keeps a full log in much less than its events would take kept whole', () => {
    // A fresh node, so that the figures are this log's alone (dist/ is built by the test setup).
    const fixture = fileURLToPath(new URL('../fixtures/event-log-memory.mjs', import.meta.url));
    const result = spawnSync(process.execPath, ['--expose-gc', fixture], { encoding: 'utf8', timeout: 120_000 });
    expect(result.status, result.stderr).toBe(0);
    const { events, ring, whole } = JSON.parse(result.stdout) as { events: number; ring: number; whole: number };
    // Kept whole (as before): ~200 bytes an event with these shapes; as records: ~130.
    expect(ring, `ring ${ring / events} B/event, whole ${whole / events} B/event`).toBeLessThan(0.8 * whole);
  });
});

describe.skipIf(unsupported !== null)(`the events of a real service${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('name it with one object, shared by all of them (the log keeps 10,000 events past their service)', async () => {
    const t = createTestSupervisor();
    try {
      const { id } = await t.supervisor.launch({ name: 'shared-ref', command: ['sleep', '60'], startGraceMs: 0 });
      await waitForState(t.supervisor, id, 'running');
      await t.supervisor.remove(id);
      const kept = t.supervisor.events.since(0).filter((event) => event.service.id === id);
      expect(kept.map((event) => event.type)).toEqual(expect.arrayContaining(['created', 'state', 'exit', 'removed']));
      const delivered = t.events.filter((event) => event.service.id === id);
      expect(delivered).toHaveLength(kept.length);
      const refs = new Set([...kept, ...delivered].map((event) => event.service));
      expect(refs.size).toBe(1);
      expect([...refs][0]).toEqual({ id, name: 'shared-ref' });
    } finally {
      await t.close();
    }
  });
});
