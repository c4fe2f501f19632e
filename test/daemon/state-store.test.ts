// The state journal on a real file: what is appended comes back whole after a reopen (as after
// a SIGKILL: no close), a torn last record is dropped and reported, and any other damage
// stops the load with the line named instead of yielding part of the state.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COMPACT_MIN_BYTES, JOURNAL_FILE, StateFileError, StateStore, type PersistedInstance } from '../../daemon/state-store.js';
import { pollUntil } from '../helpers/proc.js';

let dir = '';
const journal = (): string => path.join(dir, JOURNAL_FILE);

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-state-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const instance: PersistedInstance = {
  pid: 4242,
  instance: '4242.abc',
  boot: '00000000-0000-0000-0000-000000000000',
  handle: { type: 254, bytes: '0102030405060708' },
  cgroup: null,
  startedAt: '2026-01-01T00:00:00.000Z',
};

/** A store with two services, one running and one removed, left open as a crash leaves it. */
function writeSome(): StateStore {
  const store = StateStore.open(dir);
  store.append({ t: 'seq', reserved: 1000 });
  store.append({ t: 'service', id: 'a1', origin: 'api', spec: { name: 'é-ünïcode', command: ['sleep', '1'] } });
  store.append({ t: 'state', id: 'a1', state: 'running', reason: 'started', spawns: 3, instance });
  store.append({ t: 'service', id: 'b2', origin: 'config', spec: { command: ['true'] } });
  store.append({ t: 'removed', id: 'b2' });
  return store;
}

describe('state store', () => {
  it('gives back after a reopen exactly what was appended, without a close (as after a SIGKILL)', () => {
    writeSome();
    const reopened = StateStore.open(dir);
    expect(reopened.recovery).toEqual({ tornBytesFile: null, tornBytes: 0 });
    expect(reopened.state.seqReserved).toBe(1000);
    expect([...reopened.state.services.keys()]).toEqual(['a1']);
    expect(reopened.state.services.get('a1')).toEqual({
      id: 'a1',
      origin: 'api',
      spec: { name: 'é-ünïcode', command: ['sleep', '1'] },
      spawns: 3,
      state: 'running',
      reason: 'started',
      instance,
      exit: null,
    });
    reopened.close();
  });

  it('replaces only the spec on a redefinition (a config reload), and keeps it through a compaction', () => {
    const store = writeSome();
    store.append({ t: 'spec', id: 'a1', spec: { name: 'é-ünïcode', command: ['sleep', '2'] } });
    const reopened = StateStore.open(dir); // rewrites the journal as a snapshot: a compaction
    reopened.close();
    const again = StateStore.open(dir);
    expect(again.state.services.get('a1')).toMatchObject({ spec: { command: ['sleep', '2'] }, spawns: 3, state: 'running', instance });
    again.close();
  });

  it('writes what a batch appends once it ends, even if it throws, and nothing before', () => {
    const store = writeSome();
    const size = fs.statSync(journal()).size;
    const writeErrors: unknown[] = [];
    expect(() =>
      store.batch(() => {
        store.append({ t: 'state', id: 'a1', state: 'running', reason: 're-adopted', spawns: 3, instance });
        store.append({ t: 'service', id: 'c3', origin: 'api', spec: { command: ['sleep', '3'] } });
        expect(fs.statSync(journal()).size).toBe(size);
        expect(store.state.services.get('a1')?.reason).toBe('re-adopted');
        throw new Error('the work failed');
      }, (error) => writeErrors.push(error)),
    ).toThrow('the work failed');
    expect(writeErrors).toEqual([]);
    const reopened = StateStore.open(dir);
    expect(reopened.state.services.get('a1')?.reason).toBe('re-adopted');
    expect([...reopened.state.services.keys()]).toEqual(['a1', 'c3']);
    reopened.close();
  });

  it('compacts into the same state, through a rename (no temporary file is left)', () => {
    const store = writeSome();
    for (let i = 0; i < 2000; i++) store.append({ t: 'state', id: 'a1', state: 'running', reason: `tick ${i}`, spawns: 3, instance });
    store.compact();
    expect(fs.statSync(journal()).size).toBeLessThan(1000);
    expect(fs.readdirSync(dir)).toEqual([JOURNAL_FILE]);
    const reopened = StateStore.open(dir);
    expect(reopened.state.services.get('a1')?.reason).toBe('tick 1999');
    reopened.close();
  });

  it('compacts once the appends pause, not in the append that crossed the threshold; at twice the threshold at once', async () => {
    const store = writeSome();
    const size = (): number => fs.statSync(journal()).size;
    const before = size();
    let tick = 0;
    const append = (): void => store.append({ t: 'state', id: 'a1', state: 'running', reason: `tick ${String(tick++).padStart(6, '0')}`, spawns: 3, instance });
    append();
    const recordBytes = size() - before;
    // A burst past the threshold (of a state this small: the minimum), and short of twice it.
    for (let i = 0; i < Math.ceil((1.2 * COMPACT_MIN_BYTES) / recordBytes); i++) append();
    expect(size()).toBeGreaterThan(COMPACT_MIN_BYTES);
    // Compacted after the pause.
    await pollUntil(() => size() < 2000, 10_000);
    // A burst with no pause: compacted within the append that doubles the threshold.
    let largest = 0;
    for (let i = 0; i < Math.ceil((2.5 * COMPACT_MIN_BYTES) / recordBytes); i++) {
      append();
      largest = Math.max(largest, size());
    }
    expect(largest).toBeLessThanOrEqual(2 * COMPACT_MIN_BYTES + recordBytes);
    expect(size()).toBeLessThan(COMPACT_MIN_BYTES);
    store.close();
    // Through both compactions, into the same state.
    const reopened = StateStore.open(dir);
    expect(reopened.state.services.get('a1')?.reason).toBe(`tick ${String(tick - 1).padStart(6, '0')}`);
    reopened.close();
  });

  it('drops a torn last record, keeps its bytes beside the journal and reports it', () => {
    writeSome();
    const whole = fs.readFileSync(journal());
    // A write cut short: the last record loses its end (and its newline).
    fs.writeFileSync(journal(), whole.subarray(0, whole.length - 10));
    const reopened = StateStore.open(dir);
    expect(reopened.recovery.tornBytes).toBeGreaterThan(0);
    expect(fs.readFileSync(reopened.recovery.tornBytesFile!, 'latin1')).toContain('"removed"');
    // Everything before the torn record is there: b2 was created and its removal is lost.
    expect([...reopened.state.services.keys()]).toEqual(['a1', 'b2']);
    reopened.close();
    // The start rewrote the journal without the torn record: the next load is clean.
    expect(StateStore.open(dir).recovery.tornBytesFile).toBeNull();
  });

  it('refuses a record damaged in the middle, naming the line, and leaves the file as it was', () => {
    writeSome();
    const lines = fs.readFileSync(journal(), 'utf8').split('\n');
    const damaged = lines.findIndex((l) => l.includes('"started"'));
    lines[damaged] = lines[damaged]!.replace('"started"', '"stArted"'); // one flipped byte, checksum unchanged
    fs.writeFileSync(journal(), lines.join('\n'));
    const before = fs.readFileSync(journal());
    const error = captureError(() => StateStore.open(dir));
    expect(error).toBeInstanceOf(StateFileError);
    expect(error).toMatchObject({ code: 'STATE_CORRUPT', line: damaged + 1, file: journal() });
    expect((error as Error).message).toContain(`line ${damaged + 1}: the record fails its checksum`);
    expect(fs.readFileSync(journal())).toEqual(before);
  });

  it('refuses a journal of another format and a record for a service it never created', () => {
    const store = StateStore.open(dir);
    store.close();
    const text = fs.readFileSync(journal(), 'utf8').replace(/^\S+ \{"t":"format","format":1\}/, line('{"t":"format","format":2}'));
    fs.writeFileSync(journal(), text);
    expect(captureError(() => StateStore.open(dir))).toMatchObject({ code: 'STATE_CORRUPT', line: 1, message: expect.stringContaining('format 2') });
    fs.writeFileSync(journal(), `${line('{"t":"format","format":1}')}\n${line('{"t":"removed","id":"zz"}')}\n${line('{"t":"seq","reserved":1}')}\n`);
    expect(captureError(() => StateStore.open(dir))).toMatchObject({ code: 'STATE_CORRUPT', line: 2, message: expect.stringContaining('"zz"') });
  });
});

/** A journal line with a correct checksum, as the store writes it. */
function line(json: string): string {
  // Same checksum as daemon/state-store.ts: the first 16 hex digits of SHA-256.
  return `${createHash('sha256').update(json).digest('hex').slice(0, 16)} ${json}`;
}

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
