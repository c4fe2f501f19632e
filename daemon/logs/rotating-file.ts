// The writer of one service's log files. Writes go through fs.promises, so the disk is
// touched only from libuv's thread pool: a slow or stuck disk delays this queue, never the
// event loop. One write is in flight at a time; the queue in front of it is counted so the
// owner can stop reading from children when it grows (see ServiceLogs).
//
// Records end in '\n' and their content never holds one: so any '\n' in the queue is a
// place where a file may end. A file is rotated at such a place before it would pass
// maxFileBytes; only a single record larger than that gets a file to itself.
//
// A failed write loses that data and says so: the bytes and records are counted, the
// error is kept, and the next write tries again. What a failed write left half-written is
// cut off, so a full disk costs whole records and never corrupts the file.
import type { FileHandle } from 'node:fs/promises';
import fs from 'node:fs/promises';
import { FrameStop } from '../../native/frame-lines.js';
import { listLogFiles, logFilePath } from './log-files.js';
import { RecordQueue } from './record-queue.js';

export interface RotatingFileOptions {
  dir: string;
  service: string;
  maxFileBytes: number;
  /** Rotated files kept besides the current one; 0 empties the file instead of rotating. */
  keepFiles: number;
  /** After each write, failed or not: the queue has shrunk. */
  onSettled?: () => void;
  /** Once at the start of each run of failures, with the first error. */
  onError?: (error: Error) => void;
  /** Once at the end of each run of failures: a write succeeded again. */
  onRecovered?: () => void;
}

export interface WriterStats {
  /** Bytes of records written to files. */
  writtenBytes: number;
  /** Bytes of records lost because a write, open or rotation failed. */
  droppedBytes: number;
  droppedRecords: number;
  /** Runs of failed writes: each began with a failure after a success (or at the start). */
  writeFailures: number;
  /** True from a failed write until a write succeeds. */
  failing: boolean;
  lastError: string | null;
  rotations: number;
  /** Bytes waiting for the disk, including the write in flight. */
  queuedBytes: number;
}

const NEWLINE = 0x0a;
// Up to this much goes out in one writev(2): one trip to the thread pool each.
const WRITE_BYTES = 1 << 20;

export class RotatingFile {
  readonly #options: RotatingFileOptions;
  readonly #path: string;
  readonly #queue = new RecordQueue();
  #handle: FileHandle | null = null;
  /** Bytes in the current file, always at a record boundary. */
  #size = 0;
  #pruned = false;
  #pumping = false;
  #failing = false;
  #closed: Promise<void> | null = null;
  #idleWaiters: Array<() => void> = [];
  #stats = { writtenBytes: 0, droppedBytes: 0, droppedRecords: 0, writeFailures: 0, lastError: null as string | null, rotations: 0 };

  constructor(options: RotatingFileOptions) {
    this.#options = options;
    this.#path = logFilePath(options.dir, options.service);
  }

  get queuedBytes(): number {
    return this.#queue.bytes;
  }

  stats(): WriterStats {
    return { ...this.#stats, failing: this.#failing, queuedBytes: this.#queue.bytes };
  }

  /**
   * Queues one record: header, data, '\n'. Never throws and never waits; the write starts
   * at the end of this turn of the event loop, so records appended in one turn go out in one
   * write. After close() the record is dropped and counted.
   */
  append(header: Buffer, data: Buffer): void {
    if (this.#closed !== null) {
      this.#stats.droppedBytes += header.length + data.length + 1;
      this.#stats.droppedRecords++;
      return;
    }
    this.#queue.append(header, data);
    if (!this.#pumping) this.#pump();
  }

  /**
   * Queues the records of complete lines of chunk[from..], framed natively (see
   * RecordQueue.appendLines, whose answer this is). After close() it frames nothing: the
   * caller's general path then drops and counts each record through append().
   */
  appendLines(header: Buffer, chunk: Buffer, from: number, maxLineBytes: number, ends: Int32Array): { count: number; stop: FrameStop } {
    if (this.#closed !== null) return { count: 0, stop: FrameStop.Unfinished };
    const framed = this.#queue.appendLines(header, chunk, from, maxLineBytes, ends);
    if (framed.count > 0 && !this.#pumping) this.#pump();
    return framed;
  }

  /** Resolves when everything queued so far is written or dropped. */
  flush(): Promise<void> {
    if (!this.#pumping) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Flushes, then closes the file. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.flush().then(() => this.#closeHandle());
    return this.#closed;
  }

  #pump(): void {
    this.#pumping = true;
    const run = async (): Promise<void> => {
      // The first write waits for the end of this turn of the event loop: the reads libuv
      // makes in one turn (a burst of up to 32) then go out in one write, one trip to the
      // thread pool, rather than one each.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.#queue.bytes > 0) {
        await this.#writeHead();
        this.#notify(this.#options.onSettled);
      }
    };
    // #writeHead catches what the disk throws; this catch is for our own bugs, which must
    // not become an unhandled rejection in the daemon either.
    run()
      .catch((error: unknown) => {
        while (this.#queue.bytes > 0) this.#drop(this.#queue.head(Infinity), error);
      })
      .finally(() => {
        this.#pumping = false;
        // Appended between the loop's last check and now (from a microtask): go on.
        if (this.#queue.bytes > 0) this.#pump();
        else for (const resolve of this.#idleWaiters.splice(0)) resolve();
      });
  }

  // Writes the oldest queued records, up to where the current file must be rotated.
  async #writeHead(): Promise<void> {
    let parts = this.#queue.head(WRITE_BYTES);
    try {
      const handle = await this.#open();
      let bytes = byteLength(parts);
      if (this.#size + bytes > this.#options.maxFileBytes) {
        const first = parts[0]!;
        const room = this.#options.maxFileBytes - this.#size;
        let cut = room > 0 ? first.lastIndexOf(NEWLINE, room - 1) : -1;
        if (cut === -1 && this.#size > 0) {
          await this.#rotate();
          return;
        }
        if (cut === -1) cut = first.indexOf(NEWLINE); // one record larger than a whole file
        parts = [first.subarray(0, cut + 1)];
        bytes = cut + 1;
      }
      const torn = await this.#append(handle, parts, bytes);
      if (torn !== null) {
        // The whole records that reached the file stay written; only the rest is dropped.
        const rest = unwritten(parts, torn.keptBytes);
        this.#queue.consume(torn.keptBytes);
        parts = rest;
        throw torn.error;
      }
      this.#queue.consume(bytes);
      if (this.#failing) {
        this.#failing = false;
        this.#notify(this.#options.onRecovered);
      }
    } catch (error) {
      this.#drop(parts, error);
      await this.#closeHandle(); // the next write starts from a fresh open and stat
    }
  }

  /**
   * Writes `parts` (`bytes` in all) at the end of the file. A write that fails after part of it
   * reached the file keeps the whole records it put down and cuts off only the torn one, then
   * returns the error and the bytes kept: on a disk that is filling up, cutting the whole
   * write back would free its space again, so that a later, smaller write fits and the next
   * fill-up tears it anew (`failing` would flap), and up to a whole write of complete records
   * would be lost for one torn record. If the cut itself fails, the next open finds the file
   * not ending in '\n' and rotates it away.
   */
  async #append(handle: FileHandle, parts: Buffer[], bytes: number): Promise<{ error: unknown; keptBytes: number } | null> {
    let written = 0;
    try {
      // writev(2) may write less than asked, typically just before the disk fills up.
      while (written < bytes) {
        const { bytesWritten } = await handle.writev(written === 0 ? parts : unwritten(parts, written));
        written += bytesWritten;
      }
    } catch (error) {
      const keptBytes = wholeRecordBytes(parts, written);
      if (written > keptBytes) await handle.truncate(this.#size + keptBytes).catch(() => undefined);
      this.#size += keptBytes;
      this.#stats.writtenBytes += keptBytes;
      return { error, keptBytes };
    }
    this.#size += bytes;
    this.#stats.writtenBytes += bytes;
    return null;
  }

  async #open(): Promise<FileHandle> {
    if (this.#handle !== null) return this.#handle;
    await fs.mkdir(this.#options.dir, { recursive: true, mode: 0o700 });
    if (!this.#pruned) {
      await this.#pruneExtraFiles();
      this.#pruned = true;
    }
    // a+ rather than a: the last byte of an existing file must be read.
    let handle = await fs.open(this.#path, 'a+', 0o600);
    try {
      let { size } = await handle.stat();
      if (size > 0 && !(await endsWithNewline(handle, size))) {
        // Left torn by a crash or a failed cut: appending would glue our first record to
        // its remains. Rotate it away intact; readers count its last line as invalid.
        await handle.close();
        await this.#shiftFiles();
        handle = await fs.open(this.#path, 'a+', 0o600);
        size = (await handle.stat()).size;
      }
      this.#handle = handle;
      this.#size = size;
      return handle;
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  async #rotate(): Promise<void> {
    // Renaming an open file is fine on Linux; the handle is closed after, whatever happens.
    try {
      await this.#shiftFiles();
    } finally {
      await this.#closeHandle();
    }
  }

  // <service>.log.<keep-1> replaces .log.<keep>, ..., <service>.log becomes .log.1.
  async #shiftFiles(): Promise<void> {
    const { dir, service, keepFiles } = this.#options;
    if (keepFiles === 0) await ignoreMissing(fs.unlink(this.#path));
    for (let index = keepFiles; index >= 1; index--) {
      await ignoreMissing(fs.rename(logFilePath(dir, service, index - 1), logFilePath(dir, service, index)));
    }
    this.#stats.rotations++;
  }

  // Rotated files past keepFiles, left by a run configured to keep more.
  async #pruneExtraFiles(): Promise<void> {
    const { dir, service, keepFiles } = this.#options;
    const files = await listLogFiles(dir, service);
    for (let index = keepFiles + 1; ; index++) {
      const file = logFilePath(dir, service, index);
      if (!files.includes(file)) break;
      await ignoreMissing(fs.unlink(file));
    }
  }

  async #closeHandle(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    if (handle === null) return;
    try {
      await handle.close();
    } catch (error) {
      this.#stats.lastError = describe(error);
    }
  }

  /** Takes `parts`, the head of the queue, off it as lost. */
  #drop(parts: Buffer[], error: unknown): void {
    for (const part of parts) {
      this.#queue.consume(part.length);
      this.#stats.droppedBytes += part.length;
      for (let at = part.indexOf(NEWLINE); at !== -1; at = part.indexOf(NEWLINE, at + 1)) this.#stats.droppedRecords++;
    }
    this.#stats.lastError = describe(error);
    if (this.#failing) return;
    this.#failing = true;
    this.#stats.writeFailures++;
    const onError = this.#options.onError;
    if (onError !== undefined) this.#notify(() => onError(error instanceof Error ? error : new Error(String(error))));
  }

  // The owner's callbacks must not break the writer.
  #notify(callback: (() => void) | undefined): void {
    try {
      callback?.();
    } catch {
      // nothing sensible to do with it here
    }
  }
}

async function endsWithNewline(handle: FileHandle, size: number): Promise<boolean> {
  const last = Buffer.alloc(1);
  const { bytesRead } = await handle.read(last, 0, 1, size - 1);
  return bytesRead === 1 && last[0] === NEWLINE;
}

async function ignoreMissing(operation: Promise<void>): Promise<void> {
  try {
    await operation;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function byteLength(parts: Buffer[]): number {
  let bytes = 0;
  for (const part of parts) bytes += part.length;
  return bytes;
}

/** How many of the first `written` bytes of `parts` are whole records (up to the last '\n' among them). */
function wholeRecordBytes(parts: Buffer[], written: number): number {
  let start = 0;
  let kept = 0;
  for (const part of parts) {
    if (start >= written) break;
    const end = part.lastIndexOf(NEWLINE, Math.min(part.length, written - start) - 1);
    if (end !== -1) kept = start + end + 1;
    start += part.length;
  }
  return kept;
}

/** `parts` without their first `skip` bytes. */
function unwritten(parts: Buffer[], skip: number): Buffer[] {
  const rest: Buffer[] = [];
  for (const part of parts) {
    if (skip >= part.length) skip -= part.length;
    else {
      rest.push(skip === 0 ? part : part.subarray(skip));
      skip = 0;
    }
  }
  return rest;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
