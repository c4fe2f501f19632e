// Log capture's native framing path (ServiceLogs without followers: frameLines copies whole
// lines into the disk queue, TailBuffer.pushLines into the tail; busy sources are read in
// bursts from an enlarged pipe) makes byte for byte the records the line splitter makes (the
// path taken with a follower), and the records a model of the splitter predicts: lines
// around maxLineBytes, empty ones, lines that cross reads, records bigger than a queue slab,
// and an unfinished last line. Real child (cat of a file), real pipe, real files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason, spawn, type ChildProcess } from '../../native/index.js';
import { listLogFiles, readLogFile, ServiceLogs, type FileRecord, type LogRecord } from '../../daemon/logs/index.js';
import { seededRandom } from '../helpers/seeded-random.js';

const unsupported = pidfdUnsupportedReason();
const NEWLINE = 0x0a;

let root: string;
let count = 0;
const opened: ServiceLogs[] = [];
const children: ChildProcess[] = [];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-log-framing-'));
});

afterEach(async () => {
  for (const child of children.splice(0)) await child.wait();
  await Promise.all(opened.splice(0).map((logs) => logs.close()));
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** About `bytes` of lines whose lengths cluster around maxLineBytes and the 64 KiB reads, then an unfinished line. */
function input(seed: number, bytes: number, maxLineBytes: number): Buffer {
  const next = seededRandom(seed);
  const lengths = [0, 1, 97, maxLineBytes - 1, maxLineBytes, maxLineBytes + 1, 2 * maxLineBytes, 3 * maxLineBytes + 5, 70_000, 140_001];
  const parts: Buffer[] = [];
  let total = 0;
  while (total < bytes) {
    // Mostly ordinary lines, so that the fast path runs long stretches; the odd lengths in between.
    const length = next() < 0.9 ? Math.floor(next() * 200) : lengths[Math.floor(next() * lengths.length)]!;
    const line = Buffer.alloc(Math.max(0, length) + 1);
    for (let i = 0; i < line.length - 1; i++) {
      const byte = Math.floor(next() * 256);
      line[i] = byte === NEWLINE ? 0x4e : byte;
    }
    line[line.length - 1] = NEWLINE;
    parts.push(line);
    total += line.length;
  }
  parts.push(Buffer.alloc(maxLineBytes + 3, 0x55)); // no '\n': partial records at EOF
  return Buffer.concat(parts);
}

/** The records the line splitter makes of `bytes`: a line is cut into partial pieces of maxLineBytes; what ends without '\n' is partial. */
function model(bytes: Buffer, maxLineBytes: number): Array<{ partial: boolean; data: Buffer }> {
  const records: Array<{ partial: boolean; data: Buffer }> = [];
  let start = 0;
  while (start < bytes.length) {
    const newline = bytes.indexOf(NEWLINE, start);
    const end = newline === -1 ? bytes.length : newline;
    let at = start;
    while (end - at > maxLineBytes) {
      records.push({ partial: true, data: bytes.subarray(at, at + maxLineBytes) });
      at += maxLineBytes;
    }
    if (newline !== -1) records.push({ partial: false, data: bytes.subarray(at, end) });
    else if (end > at) records.push({ partial: true, data: bytes.subarray(at, end) });
    start = end + 1;
  }
  return records;
}

async function capture(file: string, maxLineBytes: number, follower: boolean): Promise<{ records: FileRecord[]; tail: LogRecord[]; followed: LogRecord[] }> {
  const dir = path.join(root, `state-${++count}`);
  const logs = new ServiceLogs({ dir, service: 'svc', maxLineBytes, partialFlushMs: 0, maxFileBytes: 1 << 30 });
  opened.push(logs);
  const followed: LogRecord[] = [];
  if (follower) logs.follow((record) => followed.push(record));
  const child = spawn({ command: 'cat', args: [file], stdio: ['null', 'reader', 'null'] });
  children.push(child);
  logs.attach('stdout', child.stdoutReader!);
  expect((await child.wait()).code).toBe(0);
  await logs.ended();
  const records: FileRecord[] = [];
  for (const logFile of await listLogFiles(dir, 'svc')) {
    const decoded = await readLogFile(logFile);
    expect(decoded.invalidLines, `${logFile} (seed ${process.env.LOG_FRAMING_SEED_USED})`).toBe(0);
    for (const record of decoded.records) records.push(record); // not push(...): 100,000s of records
  }
  expect(logs.stats().droppedBytes).toBe(0);
  return { records, tail: logs.tail(), followed };
}

const shape = (records: ReadonlyArray<{ partial: boolean; data: Buffer }>): Array<[boolean, string]> =>
  records.map((r) => [r.partial, r.data.toString('latin1')]);

describe.skipIf(unsupported !== null)('native log framing', () => {
  // 70,000 and 140,001-byte lines under maxLineBytes 100,000: records bigger than a 64 KiB
  // slab of the disk queue, which the native loop leaves to the general path.
  for (const [maxLineBytes, bytes] of [
    [1, 20_000],
    [100, 3 << 20],
    [16 << 10, 3 << 20],
    [100_000, 3 << 20],
  ] as const) {
    it(`writes the splitter's records, maxLineBytes ${maxLineBytes}`, async () => {
      const seed = Number(process.env.LOG_FRAMING_SEED ?? Date.now() % 2 ** 31);
      process.env.LOG_FRAMING_SEED_USED = String(seed);
      const data = input(seed, bytes, maxLineBytes);
      const file = path.join(root, `input-${maxLineBytes}`);
      fs.writeFileSync(file, data);
      const expected = shape(model(data, maxLineBytes));

      const fast = await capture(file, maxLineBytes, false);
      expect(shape(fast.records), `seed ${seed}`).toEqual(expected);
      const general = await capture(file, maxLineBytes, true);
      expect(shape(general.records), `seed ${seed}`).toEqual(expected);
      expect(shape(general.followed)).toEqual(expected);

      // The tail: the newest records, numbered one by one from 1, on both paths alike.
      expect(fast.tail.length).toBeGreaterThan(0);
      expect(shape(fast.tail)).toEqual(expected.slice(-fast.tail.length));
      expect(fast.tail.map((r) => r.seq)).toEqual(fast.tail.map((_, i) => expected.length - fast.tail.length + 1 + i));
      expect(shape(general.tail)).toEqual(shape(fast.tail));
      expect(general.tail.map((r) => r.seq)).toEqual(fast.tail.map((r) => r.seq));
    }, 120_000);
  }
});
