// The in-memory tail: lines pushed together (pushLines, the native framing path) leave the
// same records as the same lines pushed one by one, and both keep what the byte bound
// allows: evict the oldest while the new record does not fit, always keep the newest.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RECORD_OVERHEAD_BYTES, TailBuffer, type LogRecord } from '../../daemon/logs/tail-buffer.js';

interface Line {
  data: Buffer;
  stream: 'stdout' | 'stderr';
  partial: boolean;
}

/** The bound as a list: the oldest go while the new one does not fit, the newest always stays. */
function model(maxBytes: number, records: LogRecord[]): LogRecord[] {
  const kept: LogRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    const cost = record.data.length + RECORD_OVERHEAD_BYTES;
    while (kept.length > 0 && bytes + cost > maxBytes) bytes -= kept.shift()!.data.length + RECORD_OVERHEAD_BYTES;
    kept.push(record);
    bytes += cost;
  }
  return kept;
}

const line = fc.record({
  data: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes.map((b) => (b === 0x0a ? 0x20 : b)))),
  stream: fc.constantFrom('stdout' as const, 'stderr' as const),
  partial: fc.boolean(),
});
// A batch of whole lines of one stream (what one read frames), or one record alone (the splitter's path).
const step = fc.oneof(
  fc.record({ batch: fc.array(line.map((l) => l.data), { minLength: 1, maxLength: 40 }), stream: fc.constantFrom('stdout' as const, 'stderr' as const) }),
  fc.record({ single: line }),
);

describe('TailBuffer', () => {
  it('keeps the same records whether lines come in batches or one by one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8000 }), fc.array(step, { maxLength: 60 }), (maxBytes, steps) => {
        const maxRecordBytes = 300;
        const tail = new TailBuffer(maxBytes, maxRecordBytes);
        const all: LogRecord[] = [];
        let seq = 0;
        let time = 1_000;
        for (const s of steps) {
          time++;
          if ('single' in s) {
            const { data, stream, partial } = s.single as Line;
            tail.push(++seq, time, stream, partial, data);
            all.push({ seq, time, stream, partial, data });
            continue;
          }
          // The lines as one read holds them: each ends in '\n', after a prefix that is not part of them.
          const prefix = Buffer.from('held:');
          const chunk = Buffer.concat([prefix, ...s.batch.flatMap((data) => [data, Buffer.from('\n')])]);
          const ends = new Int32Array(s.batch.length + 3);
          let at = prefix.length;
          s.batch.forEach((data, i) => {
            at += data.length;
            ends[i] = at++;
          });
          tail.pushLines(seq + 1, time, s.stream, chunk, prefix.length, ends, s.batch.length);
          for (const data of s.batch) all.push({ seq: ++seq, time, stream: s.stream, partial: false, data });
        }
        const expected = model(maxBytes, all);
        expect(tail.last(Infinity)).toEqual(expected);
        expect(tail.last(3, 'stderr')).toEqual(expected.filter((r) => r.stream === 'stderr').slice(-3));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps no record older than a line of the same read that did not fit', () => {
    // fast-check's counterexample (seed 1986424466): an empty line, then a read of two lines of
    // which only the last fits; one by one, the second line had evicted the empty one.
    const tail = new TailBuffer(2 * RECORD_OVERHEAD_BYTES + 3, 300);
    tail.pushLines(1, 1, 'stdout', Buffer.from('\n'), 0, Int32Array.of(0), 1);
    tail.pushLines(2, 2, 'stdout', Buffer.from('a\nbbb\n'), 0, Int32Array.of(1, 5), 2);
    expect(tail.last(Infinity).map((record) => record.data.toString())).toEqual(['bbb']);
  });

  it('evicts exactly the oldest lines that make room, no more, when sizes add up exactly', () => {
    // Three 10-byte lines fill it; each next read of one line pushes out exactly one.
    const tail = new TailBuffer(3 * (RECORD_OVERHEAD_BYTES + 10), 10);
    const line = (n: number): string => `line ${String(n).padStart(5, '0')}`;
    const read = (from: number, count: number): void => {
      const chunk = Buffer.from(Array.from({ length: count }, (_, i) => `${line(from + i)}\n`).join(''));
      const ends = Int32Array.from({ length: count }, (_, i) => 11 * i + 10);
      tail.pushLines(from, 0, 'stdout', chunk, 0, ends, count);
    };
    read(1, 3);
    read(4, 1);
    expect(tail.last(Infinity).map((r) => r.data.toString())).toEqual([line(2), line(3), line(4)]);
    read(5, 2);
    expect(tail.last(Infinity).map((r) => [r.seq, r.data.toString()])).toEqual([[4, line(4)], [5, line(5)], [6, line(6)]]);
    read(7, 5); // more than fits: only the last three stay
    expect(tail.last(Infinity).map((r) => r.seq)).toEqual([9, 10, 11]);
  });
});
