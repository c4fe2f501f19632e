// Log capture on real children through real pipes: byte-exact binary capture with bounded
// memory, stream tags and timestamps, rotation, line splitting, a stalled disk (a FIFO that
// nobody reads) and a full one (a tiny tmpfs), tail() and follow().
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason, ProcessExitedError, spawn, type ChildProcess } from '../../native/index.js';
import {
  decodeRecords,
  formatTimestamp,
  listLogFiles,
  readLogFile,
  ServiceLogs,
  type FileRecord,
  type LogRecord,
  type ServiceLogsOptions,
} from '../../daemon/logs/index.js';
import { RECORD_OVERHEAD_BYTES } from '../../daemon/logs/tail-buffer.js';
import { isRoot, pollUntil, rssBytes } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const NODE = process.execPath;
const MiB = 1 << 20;

let root: string;
let dirCount = 0;
const opened: ServiceLogs[] = [];
const children: ChildProcess[] = [];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-logs-'));
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    try {
      child.signal('SIGKILL');
    } catch (error) {
      if (!(error instanceof ProcessExitedError)) throw error;
    }
    await child.wait();
  }
  await Promise.all(opened.splice(0).map((logs) => logs.close()));
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

function newDir(): string {
  return path.join(root, `state-${++dirCount}`);
}

function open(options: Partial<ServiceLogsOptions> = {}): ServiceLogs {
  const logs = new ServiceLogs({ dir: newDir(), service: 'svc', ...options });
  opened.push(logs);
  return logs;
}

/** Starts a child with stdout and stderr piped into `logs`. */
function run(logs: ServiceLogs, command: string, args: string[]): ChildProcess {
  const child = spawn({ command, args, stdio: ['null', 'reader', 'reader'] });
  children.push(child);
  logs.attach('stdout', child.stdoutReader!);
  logs.attach('stderr', child.stderrReader!);
  return child;
}

type Step = { fd: 1 | 2; data: Buffer | string } | { sleep: number };

/** Runs the log-script fixture: the exact bytes in the exact order given. */
function runScript(logs: ServiceLogs, steps: Step[]): ChildProcess {
  const json = steps.map((step) =>
    'sleep' in step ? step : { fd: step.fd, data: Buffer.from(step.data).toString('base64') },
  );
  return run(logs, NODE, [path.join(FIXTURES, 'log-script.mjs'), JSON.stringify(json)]);
}

async function finish(logs: ServiceLogs, child: ChildProcess): Promise<void> {
  const exit = await child.wait();
  expect(exit.code).toBe(0);
  await logs.ended();
}

/** All records of the service's files, oldest first. */
async function readAll(dir: string, service = 'svc'): Promise<FileRecord[]> {
  const records: FileRecord[] = [];
  for (const file of await listLogFiles(dir, service)) {
    const decoded = await readLogFile(file);
    expect(decoded.invalidLines, file).toBe(0);
    records.push(...decoded.records);
  }
  return records;
}

/** A stream rebuilt from records: contents joined, '\n' after each full line. */
function reassemble(records: ReadonlyArray<FileRecord | LogRecord>, stream: 'stdout' | 'stderr'): Buffer {
  const parts: Buffer[] = [];
  for (const record of records) {
    if (record.stream !== stream) continue;
    parts.push(record.data);
    if (!record.partial) parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

function lines(records: ReadonlyArray<FileRecord | LogRecord>, stream?: 'stdout' | 'stderr'): string[] {
  return records.filter((r) => stream === undefined || r.stream === stream).map((r) => r.data.toString());
}

describe('CRI records', () => {
  it('reads records of other CRI writers and counts lines that are not records', () => {
    const file = Buffer.concat([
      Buffer.from('2016-10-06T00:17:09.669794202Z stdout F The content of the log entry 1\n'),
      Buffer.from('2016-10-06T00:17:09.6697Z stderr P First line of log entry 2\n'), // Go trims zeros
      Buffer.from('2016-10-06T00:17:10+02:00 stderr F \n'), // an offset, empty content
      Buffer.from('not a record\n'),
      Buffer.from('2016-10-06T00:17:10.000000000Z stdin F wrong stream\n'),
      Buffer.from('2016-10-06T00:17:10.000000000Z stdout F torn by a cras'), // no '\n'
    ]);
    const { records, invalidLines } = decodeRecords(file);
    expect(records.map((r) => [r.timestamp, r.stream, r.partial, r.data.toString()])).toEqual([
      ['2016-10-06T00:17:09.669794202Z', 'stdout', false, 'The content of the log entry 1'],
      ['2016-10-06T00:17:09.6697Z', 'stderr', true, 'First line of log entry 2'],
      ['2016-10-06T00:17:10+02:00', 'stderr', false, ''],
    ]);
    expect(invalidLines).toBe(3);
    expect(formatTimestamp(1_475_713_029_669_794_202n)).toBe('2016-10-06T00:17:09.669794202Z');
    expect(formatTimestamp(1_475_713_029_000_000_007n)).toBe('2016-10-06T00:17:09.000000007Z');
  });
});

describe.skipIf(unsupported !== null)(`log capture${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('captures a 200 MB binary burst byte-exact, with bounded memory and a free event loop', async () => {
    const BYTES = 200_000_000;
    const dir = newDir();
    // Big enough files that all of it is kept (about 232 MB with record headers), small
    // enough that the burst rotates a few times on the way.
    const logs = open({ dir, maxFileBytes: 64 * MiB, keepFiles: 5 });
    global.gc?.();
    const rssBefore = rssBytes();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssBytes())), 20);
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const started = performance.now();
    try {
      const child = run(logs, NODE, [path.join(FIXTURES, 'log-burst.mjs'), String(BYTES)]);
      await finish(logs, child);
    } finally {
      clearInterval(sampler);
      loopDelay.disable();
    }
    const seconds = (performance.now() - started) / 1000;
    const stats = logs.stats();
    console.log(
      `200 MB burst: ${(BYTES / 1e6 / seconds).toFixed(0)} MB/s captured in ${seconds.toFixed(2)} s; ` +
        `RSS +${((rssPeak - rssBefore) / MiB).toFixed(1)} MiB peak; event loop max delay ` +
        `${(loopDelay.max / 1e6).toFixed(1)} ms; ${stats.writtenBytes} bytes in files, ${stats.rotations} rotations`,
    );
    expect(stats).toMatchObject({ droppedBytes: 0, lastError: null, paused: false, queuedBytes: 0 });
    expect(stats.capturedBytes).toBeGreaterThan(BYTES);
    expect(rssPeak - rssBefore).toBeLessThan(100 * MiB);
    expect(loopDelay.max / 1e6).toBeLessThan(500);

    // Rebuild stdout from the files, oldest first, one file in memory at a time.
    const files = await listLogFiles(dir, 'svc');
    expect(files.length).toBeGreaterThan(1);
    const hash = createHash('sha256');
    const stderr: FileRecord[] = [];
    let stdoutBytes = 0;
    for (const file of files) {
      const { records, invalidLines } = await readLogFile(file);
      expect(invalidLines).toBe(0);
      for (const record of records) {
        if (record.stream === 'stderr') {
          stderr.push(record);
          continue;
        }
        hash.update(record.data);
        stdoutBytes += record.data.length;
        if (!record.partial) {
          hash.update('\n');
          stdoutBytes++;
        }
      }
    }
    expect(stdoutBytes).toBe(BYTES);
    const [, expected] = /^sha256 ([0-9a-f]{64})\n$/.exec(reassemble(stderr, 'stderr').toString()) ?? [];
    expect(hash.digest('hex')).toBe(expected);
  }, 60_000);

  it('keeps each line on its stream, with timestamps that never go back', async () => {
    const dir = newDir();
    const logs = open({ dir });
    const steps: Step[] = [];
    for (let i = 0; i < 300; i++) {
      steps.push({ fd: 1, data: `out ${i}\n` }, { fd: 2, data: `err ${i}\n` });
      if (i % 50 === 0) steps.push({ sleep: 5 }); // several reads, several timestamps
    }
    await finish(logs, runScript(logs, steps));

    const records = await readAll(dir);
    expect(records).toHaveLength(600);
    expect(lines(records, 'stdout')).toEqual(Array.from({ length: 300 }, (_, i) => `out ${i}`));
    expect(lines(records, 'stderr')).toEqual(Array.from({ length: 300 }, (_, i) => `err ${i}`));
    expect(records.every((r) => !r.partial)).toBe(true);
    const times = records.map((r) => r.timestamp);
    expect(times).toEqual([...times].sort());
    expect(new Set(times).size).toBeGreaterThan(1);
    // The timestamps are real time: within this test's run.
    const first = Date.parse(times[0]!);
    expect(Math.abs(first - Date.now())).toBeLessThan(60_000);

    // The tail has the same records in the same order as the file.
    const tail = logs.tail();
    expect(tail.map((r) => [r.stream, r.data.toString()])).toEqual(records.map((r) => [r.stream, r.data.toString()]));
    expect(tail.map((r) => r.seq)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    const ms = tail.map((r) => r.time);
    expect(ms).toEqual([...ms].sort((a, b) => a - b));
    expect(ms[0]).toBe(Math.trunc(first));
  });

  it('rotates at maxFileBytes and keeps keepFiles files, newest data in .log', async () => {
    const dir = newDir();
    const maxFileBytes = 64 << 10;
    const logs = open({ dir, maxFileBytes, keepFiles: 3 });
    // About 110 KB of output, 930 KB of records.
    await finish(logs, run(logs, 'seq', ['1', '20000']));

    expect(fs.readdirSync(dir).sort()).toEqual(['svc.log', 'svc.log.1', 'svc.log.2', 'svc.log.3']);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    for (const name of fs.readdirSync(dir)) {
      const stat = fs.statSync(path.join(dir, name));
      expect(stat.size, name).toBeLessThanOrEqual(maxFileBytes);
      expect(stat.mode & 0o777, name).toBe(0o600);
    }
    expect(logs.stats().rotations).toBeGreaterThanOrEqual(13);

    // The kept files are one unbroken run of the newest lines, ending in svc.log.
    const numbers = lines(await readAll(dir)).map(Number);
    expect(numbers.at(-1)).toBe(20000);
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => numbers[0]! + i));
    const current = lines((await readLogFile(path.join(dir, 'svc.log'))).records).map(Number);
    expect(current.at(-1)).toBe(20000);
    const previous = lines((await readLogFile(path.join(dir, 'svc.log.1'))).records).map(Number);
    expect(previous.at(-1)! + 1).toBe(current[0]);

    // The next run appends to svc.log, and drops rotated files past its own keepFiles.
    await logs.close();
    const again = open({ dir, maxFileBytes, keepFiles: 1 });
    await finish(again, runScript(again, [{ fd: 1, data: 'restarted\n' }]));
    expect(fs.readdirSync(dir).sort()).toEqual(['svc.log', 'svc.log.1']);
    const after = lines((await readLogFile(path.join(dir, 'svc.log'))).records);
    expect(after.slice(-2)).toEqual(['20000', 'restarted']);
  });

  it('cuts long lines into partial records and keeps a last line without newline', async () => {
    const dir = newDir();
    const logs = open({ dir, maxLineBytes: 1000, partialFlushMs: 0 });
    const long = Buffer.alloc(2500);
    for (let i = 0; i < long.length; i++) long[i] = (i * 7) % 256 === 10 ? 11 : (i * 7) % 256; // all but '\n'
    const exact = Buffer.alloc(1000, 0xff);
    const input = Buffer.concat([long, Buffer.from('\n'), exact, Buffer.from('\n\n\r\nshort\nno newline at end')]);
    // Written in odd pieces, so lines also straddle the reads.
    const steps: Step[] = [];
    for (let at = 0; at < input.length; at += 777) {
      steps.push({ fd: 1, data: input.subarray(at, at + 777) }, { sleep: 2 });
    }
    await finish(logs, runScript(logs, steps));

    const records = await readAll(dir);
    expect(records.map((r) => [r.partial, r.data.length])).toEqual([
      [true, 1000], [true, 1000], [false, 500], // the long line
      [false, 1000], // exactly maxLineBytes: one full record
      [false, 0], [false, 1], [false, 5], // '', '\r', 'short'
      [true, 17], // no newline at EOF
    ]);
    expect(reassemble(records, 'stdout').equals(input)).toBe(true);
    expect(reassemble(logs.tail(), 'stdout').equals(input)).toBe(true);
  });

  it('records an unfinished line as partial once it has waited partialFlushMs', async () => {
    const logs = open({ partialFlushMs: 100 });
    const seen: LogRecord[] = [];
    logs.follow((record) => seen.push(record));
    let exited = false;
    const child = runScript(logs, [{ fd: 1, data: 'password: ' }, { sleep: 1500 }, { fd: 1, data: 'ok\n' }]);
    void child.wait().then(() => (exited = true));
    await pollUntil(() => seen.length > 0, 1400);
    expect(exited).toBe(false);
    expect(seen.map((r) => [r.partial, r.data.toString()])).toEqual([[true, 'password: ']]);
    await finish(logs, child);
    expect(seen.map((r) => [r.partial, r.data.toString()])).toEqual([[true, 'password: '], [false, 'ok']]);
  });

  it('tail() is bounded by tailBytes and filters; follow() sees every record until unsubscribed', async () => {
    const tailBytes = 100 * (RECORD_OVERHEAD_BYTES + 4);
    const logs = open({ tailBytes });
    const all: LogRecord[] = [];
    const firstTen: LogRecord[] = [];
    logs.follow((record) => all.push(record));
    const stop = logs.follow((record) => {
      firstTen.push(record);
      if (firstTen.length === 10) stop();
    });
    logs.follow(() => {
      throw new Error('a broken follower');
    });
    await finish(logs, run(logs, 'seq', ['1', '1000']));

    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(lines(all)).toEqual(Array.from({ length: 1000 }, (_, i) => String(i + 1)));
    expect(lines(firstTen)).toEqual(lines(all.slice(0, 10)));

    const tail = logs.tail();
    expect(tail.length).toBeGreaterThanOrEqual(90);
    expect(tail.length).toBeLessThanOrEqual(100);
    expect(tail).toEqual(all.slice(-tail.length));
    expect(logs.tail({ limit: 3 }).map((r) => r.data.toString())).toEqual(['998', '999', '1000']);
    expect(logs.tail({ stream: 'stderr' })).toEqual([]);
    expect(logs.tail({ stream: 'stdout', limit: 1 })[0]!.seq).toBe(1000);
  });

  it('pauses the child when the disk stalls, loses nothing, and keeps the event loop free', async () => {
    // The "disk" is a FIFO nobody reads yet: the first write fills it and then waits in the
    // thread pool, as on a hung NFS server.
    const dir = newDir();
    fs.mkdirSync(dir, { mode: 0o700 });
    const fifo = path.join(root, `disk-${dirCount}.fifo`);
    execFileSync('mkfifo', [fifo]);
    fs.symlinkSync(fifo, path.join(dir, 'svc.log'));
    const highWaterBytes = 256 << 10;
    const logs = open({ dir, highWaterBytes, maxFileBytes: 1 << 30 });
    const BYTES = 16 * MiB;
    let exited = false;
    const child = run(logs, NODE, [path.join(FIXTURES, 'log-burst.mjs'), String(BYTES)]);
    void child.wait().then(() => (exited = true));
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();

    // The disk comes back when this phase ends, pass or fail: a reader drains the FIFO into
    // a file. Not in `children`: it ends by itself, at EOF, once the logs are closed.
    const out = path.join(root, `disk-${dirCount}.out`);
    let reader: ChildProcess;
    try {
      await pollUntil(() => logs.stats().paused, 5000);
      const stalled = logs.stats().capturedBytes;
      await new Promise((resolve) => setTimeout(resolve, 300));
      const stats = logs.stats();
      loopDelay.disable();
      // Paused: nothing more is read, the queue stays near the high-water mark, and the
      // child is blocked in write(2), not finished.
      expect(stats.capturedBytes).toBe(stalled);
      expect(stats.capturedBytes).toBeLessThan(2 * MiB);
      expect(stats.queuedBytes).toBeLessThan(highWaterBytes + (512 << 10));
      expect(exited).toBe(false);
      expect(loopDelay.max / 1e6).toBeLessThan(200);
    } finally {
      reader = spawn({ command: '/bin/sh', args: ['-c', 'exec cat < "$0" > "$1"', fifo, out] });
    }
    await finish(logs, child);
    await logs.close(); // the reader gets EOF
    expect((await reader.wait()).code).toBe(0);
    expect(logs.stats()).toMatchObject({ droppedBytes: 0, lastError: null, queuedBytes: 0 });
    expect(logs.stats().capturedBytes).toBeGreaterThan(BYTES);

    const { records, invalidLines } = await readLogFile(out);
    expect(invalidLines).toBe(0);
    const stdout = reassemble(records, 'stdout');
    expect(stdout.length).toBe(BYTES);
    const [, expected] = /^sha256 ([0-9a-f]{64})\n$/.exec(reassemble(records, 'stderr').toString()) ?? [];
    expect(createHash('sha256').update(stdout).digest('hex')).toBe(expected);
  });

  // A busy child as coreutils write: 8 KiB writes of lines of `length` bytes, as fast as the pipe takes them.
  const busyLine = (length: number): string => 'a busy child writing as fast as the pipe takes it: 0123456789 '.repeat(length).slice(0, length - 1);
  function runBusy(logs: ServiceLogs, bytes: number, lineBytes = 97): ChildProcess {
    return run(logs, '/bin/sh', ['-c', `yes '${busyLine(lineBytes)}' | head -c ${bytes}`]);
  }
  function busyOutput(bytes: number, lineBytes = 97): Buffer {
    const line = `${busyLine(lineBytes)}\n`;
    return Buffer.from(line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes));
  }

  it('reads a busy child in reads larger than 64 KiB, byte for byte', async () => {
    const dir = newDir();
    const logs = open({ dir, maxFileBytes: 1 << 30 });
    const BYTES = 32 * MiB;
    await finish(logs, runBusy(logs, BYTES));
    // 64 KiB reads would need 512 at least; its enlarged pipe is read whole (busy-pipe.ts).
    expect(logs.stats().reads).toBeLessThan(BYTES / (64 << 10));
    const { records, invalidLines } = await readLogFile(path.join(dir, 'svc.log'));
    expect(invalidLines).toBe(0);
    expect(reassemble(records, 'stdout').equals(busyOutput(BYTES))).toBe(true);
  });

  it('keeps reading a busy child in bursts when it slows down: not one read per write', async () => {
    // 4 MiB at full speed (the pipe is enlarged), then 1,500 lines 300 us apart: read as they
    // come, about a read (and a call into JS) per line (940 to 1,160 seen); in bursts, about
    // one per millisecond (380 to 410 seen, at load average 11).
    const WRITES = 1500;
    const writer = `
      const fs = require('node:fs');
      const line = Buffer.from('x'.repeat(3999) + '\\n');
      const fast = Buffer.concat(new Array(16).fill(line));
      for (let i = 0; i < 64; i++) fs.writeSync(1, fast);
      for (let i = 0; i < ${WRITES}; i++) {
        fs.writeSync(1, line);
        for (const until = performance.now() + 0.3; performance.now() < until; );
      }`;
    const dir = newDir();
    const logs = open({ dir, maxFileBytes: 1 << 30 });
    await finish(logs, run(logs, NODE, ['-e', writer]));
    expect(logs.stats().capturedBytes).toBe((64 * 16 + WRITES) * 4000);
    expect(logs.stats().reads).toBeLessThan(WRITES / 2);
  });

  it('reads 64 KiB at a time again once a busy child turns to empty lines: a large read of them queues 41 times its bytes', async () => {
    const dir = newDir();
    const logs = open({ dir, maxFileBytes: 1 << 30 });
    const fifo = path.join(root, `go-${dirCount}.fifo`);
    execFileSync('mkfifo', [fifo]);
    const LONG = 1000 * 4000; // whole lines
    const EMPTY = 3 * MiB;
    const script = `yes '${busyLine(4000)}' | head -c ${LONG}; read go < "$0"; yes '' | head -c ${EMPTY}`;
    const child = run(logs, '/bin/sh', ['-c', script, fifo]);
    // Long lines first: the source becomes busy and reads its enlarged pipe whole.
    await pollUntil(() => logs.stats().capturedBytes === LONG, 30_000);
    const readsBefore = logs.stats().reads;
    await fs.promises.writeFile(fifo, 'go\n');
    await finish(logs, child);
    // At most one read larger than 64 KiB of the empty lines, then 64 KiB reads.
    expect(logs.stats().reads - readsBefore).toBeGreaterThanOrEqual((EMPTY - MiB) / (64 << 10));
    // The file ends in a record per empty line: "<timestamp> stdout F \n", all of one length.
    const file = fs.readFileSync(path.join(dir, 'svc.log'));
    const recordBytes = file.length - 1 - file.lastIndexOf(0x0a, file.length - 2);
    const empty = file.subarray(file.length - EMPTY * recordBytes);
    expect(decodeRecords(empty.subarray(0, recordBytes)).records).toMatchObject([{ stream: 'stdout', partial: false, data: Buffer.alloc(0) }]);
    let misplaced = 0;
    for (let at = empty.indexOf(0x0a), n = 1; at !== -1; at = empty.indexOf(0x0a, at + 1), n++) if (at !== n * recordBytes - 1) misplaced++;
    expect(misplaced).toBe(0);
    expect(file[file.length - EMPTY * recordBytes - 1]).toBe(0x0a);
  });

  it('holds no more than 1 MiB waiting for a stalled disk, one 64 KiB read and an unfinished line, large reads or not', async () => {
    // What a killed daemon loses (keeper-output.test.ts' DAEMON_HELD_BYTES), with the default
    // highWaterBytes, where a busy source may read its whole enlarged pipe at once. Whether a
    // read that breaks the bound comes just before the stall depends on timing: five stalls.
    for (let round = 0; round < 5; round++) {
      const dir = newDir();
      fs.mkdirSync(dir, { mode: 0o700 });
      const fifo = path.join(root, `disk-${dirCount}.fifo`);
      execFileSync('mkfifo', [fifo]);
      fs.symlinkSync(fifo, path.join(dir, 'svc.log'));
      const logs = open({ dir, maxFileBytes: 1 << 30 });
      const BYTES = 16 * MiB;
      // Long lines: their records are hardly bigger than their bytes, which leaves the bound no slack.
      const child = runBusy(logs, BYTES, 4000);
      const out = path.join(root, `disk-${dirCount}.out`);
      let reader: ChildProcess;
      // Looked at until reading has stopped. What is held is what was read and not yet
      // written: the FIFO may already hold (written) up to 64 KiB of records.
      const seen: Array<{ capturedBytes: number; writtenBytes: number }> = [];
      try {
        for (let i = 0; i < 100; i++) {
          const { capturedBytes, writtenBytes } = logs.stats();
          seen.push({ capturedBytes, writtenBytes });
          if (seen.length > 1 && capturedBytes === seen.at(-2)!.capturedBytes) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(logs.stats().capturedBytes).toBe(seen.at(-1)!.capturedBytes);
      } finally {
        reader = spawn({ command: '/bin/sh', args: ['-c', 'exec cat < "$0" > "$1"', fifo, out] });
      }
      await finish(logs, child);
      await logs.close();
      expect((await reader.wait()).code).toBe(0);
      const { records, invalidLines } = await readLogFile(out);
      expect(invalidLines).toBe(0);
      expect(reassemble(records, 'stdout').equals(busyOutput(BYTES, 4000))).toBe(true);
      // The stream's bytes in the first `writtenBytes` of the file: those were on "disk".
      const file = fs.readFileSync(out);
      for (const { capturedBytes, writtenBytes } of seen) {
        const onDisk = reassemble(decodeRecords(file.subarray(0, writtenBytes)).records, 'stdout').length;
        expect(capturedBytes - onDisk, `round ${round}`).toBeLessThanOrEqual(MiB + (64 << 10) + (16 << 10));
      }
      fs.rmSync(out);
    }
  });

  describe.skipIf(!isRoot())(`on a full disk${isRoot() ? '' : ' (skipped: mounting a tmpfs needs root)'}`, () => {
    let mountPoint: string | null = null;

    afterAll(() => {
      if (mountPoint !== null) execFileSync('umount', [mountPoint]);
    });

    it('drops and counts what cannot be written, keeps capturing, and writes again when there is room', async () => {
      const dir = newDir();
      fs.mkdirSync(dir, { mode: 0o700 });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', dir]);
      mountPoint = dir;
      const errors: Error[] = [];
      const logs = open({ dir, onError: (error) => errors.push(error) });
      const loopDelay = monitorEventLoopDelay({ resolution: 10 });
      loopDelay.enable();
      await finish(logs, run(logs, NODE, [path.join(FIXTURES, 'log-burst.mjs'), String(2 * MiB)]));
      loopDelay.disable();

      const full = logs.stats();
      expect(full.capturedBytes).toBeGreaterThan(2 * MiB);
      expect(full.writtenBytes).toBeGreaterThan(0);
      expect(full.droppedBytes).toBeGreaterThan(MiB);
      expect(full.droppedRecords).toBeGreaterThan(0);
      expect(full.lastError).toMatch(/ENOSPC/);
      expect(full.queuedBytes).toBe(0);
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect((errors[0] as NodeJS.ErrnoException).code).toBe('ENOSPC');
      expect(loopDelay.max / 1e6).toBeLessThan(200);
      // The file holds whole records only: no torn one where the disk filled up.
      const { records, invalidLines } = await readLogFile(path.join(dir, 'svc.log'));
      expect(invalidLines).toBe(0);
      expect(records.length).toBeGreaterThan(0);
      expect(full.writtenBytes).toBe(fs.statSync(path.join(dir, 'svc.log')).size);
      // Memory still has the end of it.
      expect(logs.tail({ stream: 'stderr' }).at(-1)?.data.toString()).toMatch(/^sha256 [0-9a-f]{64}$/);

      // Room again: new output is written.
      execFileSync('mount', ['-o', 'remount,size=8m', dir]);
      await finish(logs, runScript(logs, [{ fd: 1, data: 'back\n' }]));
      const after = logs.stats();
      expect(after.writtenBytes).toBeGreaterThan(full.writtenBytes);
      expect(after.droppedBytes).toBe(full.droppedBytes);
      const last = (await readLogFile(path.join(dir, 'svc.log'))).records.at(-1);
      expect(last?.data.toString()).toBe('back');
    });
  });
});
