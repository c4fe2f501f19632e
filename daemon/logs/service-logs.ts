// Log capture for one service: reads its children's stdout and stderr pipes in the event
// loop, cuts them into records, keeps the last ones in memory, hands each to followers
// and queues it for the service's rotating files. Without followers, the whole lines of a
// read are framed in native code straight into the disk queue (one call per read, not a JS
// loop per line); the records are the same byte for byte.
//
// Memory stays bounded whatever a child writes:
// - a line is held back only up to maxLineBytes (LineSplitter);
// - the in-memory tail is bounded by bytes (TailBuffer);
// - when more than highWaterBytes wait for the disk, every source is paused. The daemon then
//   stops reading the pipe, the pipe fills, and the child blocks in write(2): a slow disk slows
//   the child down rather than growing the daemon, and nothing is lost. Reading resumes
//   when the queue is down to half.
// - a busy source reads up to LARGE_READ_BYTES at once (busy-pipe.ts) only while at most
//   #largeReadRoom waits for the disk; above, it waits for the writes. What the daemon holds
//   read and not yet written (what a killed daemon loses) thus stays what a 64 KiB read
//   allows: highWaterBytes, one read of 64 KiB and an unfinished line. Large reads are made
//   only while the source's last read was of lines long enough that their records at most
//   doubled its bytes (LARGE_READ_GROWTH): a child that turns from long lines to a flood of
//   empty ones queues at most one large read of them (41 MiB for 1 MiB of '\n's) before its
//   reads are 64 KiB again, as the queue's memory is with 64 KiB reads of such lines.
// A disk that fails (ENOSPC, EIO) does not pause anything: that data is dropped and counted
// in stats(), so a full disk never stops a service. The in-memory tail still has it.
import { performance } from 'node:perf_hooks';
import { FrameStop } from '../../native/frame-lines.js';
import type { PipeReader } from '../../native/pipe-reader.js';
import { BATCH_DELAY_MS, BUSY_PIPE_BYTES, BUSY_READ_BYTES, enlargePipe, FULL_READ_BYTES, LARGE_READ_BYTES, releasePipe } from './busy-pipe.js';
import { now, type Instant } from './clock.js';
import { formatTimestamp, recordHeader, type LogStream, type Piece } from './cri-format.js';
import { LineSplitter } from './line-splitter.js';
import { largeReadBuffer, READ_BUFFER } from './shared-read-buffer.js';
import { checkServiceName } from './log-files.js';
import { RotatingFile, type WriterStats } from './rotating-file.js';
import { TailBuffer, type LogRecord } from './tail-buffer.js';

export type { LogRecord } from './tail-buffer.js';
export type { LogStream, FileRecord, DecodedLog } from './cri-format.js';
export { readLogFile, listLogFiles, logFilePath } from './log-files.js';

export interface ServiceLogsOptions {
  /** The state directory for log files; created 0700 when missing. */
  dir: string;
  /** Names the files: <dir>/<service>.log, .log.1, ... */
  service: string;
  /** Rotate before the current file would pass this size. Default 10 MiB. */
  maxFileBytes?: number;
  /** Rotated files kept. Default 5. */
  keepFiles?: number;
  /** Bytes of records kept in memory for tail(). Default 256 KiB. */
  tailBytes?: number;
  /** Longer lines are cut into partial records. Default 16 KiB. */
  maxLineBytes?: number;
  /** Bytes waiting for the disk above which the sources are paused. Default 1 MiB. */
  highWaterBytes?: number;
  /**
   * An unfinished line (a prompt, a progress bar) waits this long for its '\n' before it is
   * recorded as a partial record. Default 1000 ms; 0 waits until EOF or maxLineBytes.
   */
  partialFlushMs?: number;
  /** Called once at the start of each run of failed writes, to report it (the daemon logs it). */
  onError?: (error: Error, stats: LogStats) => void;
  /** Called once when writes succeed again after such a run. */
  onRecovered?: (stats: LogStats) => void;
}

/** What a process's status shows of its captured output (the API's ProcessInfo.logs). */
export interface LogStatus {
  capturedBytes: number;
  writtenBytes: number;
  droppedBytes: number;
  droppedRecords: number;
  writeFailures: number;
  failing: boolean;
  lastError: string | null;
}

export interface LogStats extends WriterStats {
  /** Bytes read from the children's pipes. */
  capturedBytes: number;
  /** Reads of the children's pipes, each a call into the capture's JS. */
  reads: number;
  /** True while the sources are paused because the disk is behind. */
  paused: boolean;
}

const NEWLINE = 0x0a;
// Large reads while a source's records are at most this many times its bytes: lines of 40
// bytes or more, with the 40-byte header and the '\n' (a 1 MiB read of empty lines queues 41 MiB).
const LARGE_READ_GROWTH = 2;
// Where appendLines reports the '\n' of each line it framed; read at once, so one serves all.
const LINE_ENDS = new Int32Array(4096);

interface Source {
  stream: LogStream;
  reader: PipeReader;
  splitter: LineSplitter;
  /** When the unfinished line held by the splitter began to wait (performance.now()). */
  pendingSince: number | null;
  timer: NodeJS.Timeout | null;
  ended: boolean;
  /** Bytes of pipe capacity taken from the busy-pipe budget; 0 while not enlarged. */
  enlarged: number;
  /** Whether enlarging was tried (once per source). */
  triedEnlarge: boolean;
  /** Set while a busy source waits for its pipe to fill (see busy-pipe.ts). */
  burstTimer: NodeJS.Timeout | null;
  /** Bytes of the reads since the pipe was last found empty. */
  burstBytes: number;
  /** Whether the next read may take up to LARGE_READ_BYTES (a busy source of long lines). */
  readsLarge: boolean;
  /** Paused by #capture until no more than #largeReadRoom waits for the disk. */
  waitingForRoom: boolean;
}

const DEFAULTS = {
  maxFileBytes: 10 << 20,
  keepFiles: 5,
  tailBytes: 256 << 10,
  maxLineBytes: 16 << 10,
  highWaterBytes: 1 << 20,
  partialFlushMs: 1000,
};

export class ServiceLogs {
  readonly #options: Required<Omit<ServiceLogsOptions, 'onError' | 'onRecovered'>>;
  readonly #file: RotatingFile;
  readonly #tail: TailBuffer;
  readonly #sources = new Set<Source>();
  readonly #listeners = new Set<(record: LogRecord) => void>();
  #endWaiters: Array<() => void> = [];
  #seq = 0;
  #capturedBytes = 0;
  #reads = 0;
  #paused = false;
  /** Handing over to the next daemon (suspend()): no source is read any more. */
  #suspended = false;
  #closing: Promise<void> | null = null;

  constructor(options: ServiceLogsOptions) {
    const { onError, onRecovered, ...limits } = options;
    checkServiceName(limits.service);
    this.#options = { ...DEFAULTS, ...definedOnly(limits) };
    checkLimits(this.#options);
    const { dir, service, maxFileBytes, keepFiles } = this.#options;
    this.#file = new RotatingFile({
      dir,
      service,
      maxFileBytes,
      keepFiles,
      onSettled: () => this.#maybeResume(),
      ...(onError === undefined ? {} : { onError: (error: Error) => onError(error, this.stats()) }),
      ...(onRecovered === undefined ? {} : { onRecovered: () => onRecovered(this.stats()) }),
    });
    this.#tail = new TailBuffer(this.#options.tailBytes, this.#options.maxLineBytes);
  }

  /**
   * Captures `source` as `stream` until EOF (a last unfinished line becomes a partial
   * record); the reader is closed then, or by close(). A new child gets new readers: attach
   * them again; each keeps its own lines.
   */
  attach(stream: LogStream, source: PipeReader): void {
    if (stream !== 'stdout' && stream !== 'stderr') {
      throw new TypeError(`stream must be "stdout" or "stderr", not ${String(stream)}`);
    }
    if (this.#closing !== null) throw new Error(`logs of ${this.#options.service} are closed`);
    const entry: Source = {
      stream,
      reader: source,
      splitter: new LineSplitter(this.#options.maxLineBytes),
      pendingSince: null,
      timer: null,
      ended: false,
      enlarged: 0,
      triedEnlarge: false,
      burstTimer: null,
      burstBytes: 0,
      readsLarge: false,
      waitingForRoom: false,
    };
    this.#sources.add(entry);
    if (this.#suspended || this.#paused) source.pause();
    // A read error ends the source as EOF does: what was read is recorded, the rest is lost
    // with the fd (a pipe's read end does not fail; what else the keeper could hand back might).
    source.read(READ_BUFFER, { onData: (chunk, capacity) => this.#capture(entry, chunk, capacity), onEnd: () => this.#end(entry) });
  }

  /**
   * For a hand-over to the next daemon (reexec): stops reading every source, now and for
   * sources attached later, so that what is still in a pipe stays there for the next daemon
   * (which reads the same pipes, through the keeper); records an unfinished line as a
   * partial record (the next daemon records the rest of it); and resolves once all of it is
   * on disk. No byte is then lost or recorded twice. Irreversible.
   */
  suspend(): Promise<void> {
    this.#suspended = true;
    for (const source of [...this.#sources]) this.#stopReading(source);
    return this.flush();
  }

  #stopReading(source: Source): void {
    // Exact: nothing is read after this (a reader holds nothing read ahead).
    source.reader.pause();
    if (source.timer !== null) clearTimeout(source.timer);
    source.timer = null;
    // A burst's timer would resume the read after the hand-over began: bytes this daemon
    // took from the pipe then would be neither on disk nor left for the next daemon.
    if (source.burstTimer !== null) clearTimeout(source.burstTimer);
    source.burstTimer = null;
    source.pendingSince = null;
    this.#record(source.stream, source.splitter.flush());
  }

  /** The last records in memory, oldest first; `limit` defaults to all of them. */
  tail(options: { stream?: LogStream; limit?: number } = {}): LogRecord[] {
    return this.#tail.last(options.limit ?? Infinity, options.stream);
  }

  /**
   * Calls `listener` with each record as it is captured; returns the unsubscribe. Listeners
   * share the record. A listener runs in the capture path: it must be quick and bound its own
   * buffering. One that throws is unsubscribed.
   */
  follow(listener: (record: LogRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  stats(): LogStats {
    return { capturedBytes: this.#capturedBytes, reads: this.#reads, ...this.#file.stats(), paused: this.#paused };
  }

  status(): LogStatus {
    const { capturedBytes, writtenBytes, droppedBytes, droppedRecords, writeFailures, failing, lastError } = this.stats();
    return { capturedBytes, writtenBytes, droppedBytes, droppedRecords, writeFailures, failing, lastError };
  }

  /** Resolves when everything captured so far is on disk or counted as dropped. */
  flush(): Promise<void> {
    return this.#file.flush();
  }

  /** Resolves when every attached source has reached EOF (or closed) and all it gave is flushed. */
  async ended(): Promise<void> {
    if (this.#sources.size > 0) await new Promise<void>((resolve) => this.#endWaiters.push(resolve));
    await this.flush();
  }

  /**
   * Stops capturing: an unfinished line is recorded, the readers are closed (a child still
   * writing gets EPIPE), then the queue is flushed and the file closed. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    for (const source of [...this.#sources]) {
      this.#end(source);
      source.reader.close();
    }
    this.#listeners.clear();
    await this.#file.close();
  }

  /** `capacity`: the size of the buffer read into; a shorter chunk emptied the pipe. */
  #capture(source: Source, chunk: Buffer, capacity: number): void {
    this.#capturedBytes += chunk.length;
    this.#reads++;
    const time = now();
    const queuedBefore = this.#file.queuedBytes;
    // Followers get an object per record: for them, the general path. Without any, complete
    // lines go from the chunk to the disk queue and the tail in one native copy per read.
    const drained = this.#listeners.size === 0 ? this.#captureLines(source, chunk, time) : this.#split(source, chunk, time);
    this.#watchPending(source, drained);
    source.burstBytes += chunk.length;
    if (chunk.length < capacity) {
      if (source.burstBytes >= BUSY_READ_BYTES || source.readsLarge) this.#readInBursts(source);
      source.burstBytes = 0;
    }
    const queued = this.#file.queuedBytes;
    source.readsLarge = source.enlarged >= LARGE_READ_BYTES && this.#largeReadRoom >= 0 && queued - queuedBefore <= LARGE_READ_GROWTH * chunk.length;
    source.reader.readInto(source.readsLarge ? largeReadBuffer() : READ_BUFFER);
    if (!this.#paused && queued > this.#options.highWaterBytes) {
      this.#paused = true;
      for (const { reader } of this.#sources) reader.pause();
    }
    // After any source's read: a large read waits until it fits (see the top of this file).
    if (queued > this.#largeReadRoom) {
      for (const other of this.#sources) {
        if (!other.readsLarge || other.waitingForRoom) continue;
        other.waitingForRoom = true;
        other.reader.pause();
      }
    }
  }

  /** The most that may wait for the disk when a large read is made. */
  get #largeReadRoom(): number {
    return this.#options.highWaterBytes + FULL_READ_BYTES - LARGE_READ_BYTES;
  }

  // Pauses a busy source for BATCH_DELAY_MS, once its pipe holds BUSY_PIPE_BYTES; it then
  // resumes unless the disk is behind (#maybeResume resumes it then). A source reading large
  // pauses after every read that empties its pipe, however little it gave: under load (seen
  // at load average 12) a child slowed down would otherwise be read a write at a time, 20 to
  // 90 reads per MiB, each a call into interpreted JS.
  #readInBursts(source: Source): void {
    if (source.burstTimer !== null || source.ended) return;
    if (!source.triedEnlarge) {
      source.triedEnlarge = true;
      source.enlarged = enlargePipe(source.reader.fd);
    }
    if (source.enlarged < BUSY_PIPE_BYTES) return;
    source.reader.pause();
    source.burstTimer = setTimeout(() => {
      source.burstTimer = null;
      if (!this.#paused && !this.#suspended && !source.ended && !source.waitingForRoom) source.reader.resume();
    }, BATCH_DELAY_MS);
  }

  /** The general path: the splitter cuts, each piece is recorded. Returns whether any piece went out. */
  #split(source: Source, bytes: Buffer, time: Instant): boolean {
    const pieces = source.splitter.push(bytes);
    this.#record(source.stream, pieces, time);
    return pieces.length > 0;
  }

  // The same records as #split, byte for byte: lines the splitter would send out whole (no
  // bytes held before them, at most maxLineBytes) are framed natively; anything else (the end
  // of a held line, a long line, an unfinished one) goes through the splitter.
  #captureLines(source: Source, chunk: Buffer, time: Instant): boolean {
    let from = 0;
    let drained = false;
    if (source.splitter.pendingBytes > 0) {
      const newline = chunk.indexOf(NEWLINE);
      if (newline === -1) return this.#split(source, chunk, time);
      drained = this.#split(source, chunk.subarray(0, newline + 1), time);
      from = newline + 1;
    }
    const header = recordHeader(formatTimestamp(time.ns), source.stream, false);
    while (from < chunk.length) {
      const { count, stop } = this.#file.appendLines(header, chunk, from, this.#options.maxLineBytes, LINE_ENDS);
      if (count > 0) {
        this.#tail.pushLines(this.#seq + 1, time.ms, source.stream, chunk, from, LINE_ENDS, count);
        this.#seq += count;
        from = LINE_ENDS[count - 1]! + 1;
        drained = true;
      }
      if (stop === FrameStop.EndsFull) continue;
      if (stop === FrameStop.Unfinished) {
        if (from < chunk.length && this.#split(source, chunk.subarray(from), time)) drained = true;
        break;
      }
      // TooLong, or NoRoom (a record bigger than a slab): this one line through the splitter.
      const newline = chunk.indexOf(NEWLINE, from);
      if (this.#split(source, chunk.subarray(from, newline + 1), time)) drained = true;
      from = newline + 1;
    }
    return drained;
  }

  #maybeResume(): void {
    if (this.#suspended) return;
    const queued = this.#file.queuedBytes;
    const resumeAll = this.#paused && queued <= this.#options.highWaterBytes / 2;
    if (resumeAll) this.#paused = false;
    if (this.#paused) return;
    for (const source of this.#sources) {
      const hadWaited = source.waitingForRoom;
      if (hadWaited && queued <= this.#largeReadRoom) source.waitingForRoom = false;
      if ((resumeAll || hadWaited) && !source.waitingForRoom && source.burstTimer === null) source.reader.resume();
    }
  }

  /** Pieces completed together share one timestamp: they were captured at the same instant. */
  #record(stream: LogStream, pieces: Piece[], time: Instant = now()): void {
    if (pieces.length === 0) return;
    const timestamp = formatTimestamp(time.ns);
    const full = recordHeader(timestamp, stream, false);
    const partial = recordHeader(timestamp, stream, true);
    for (const { data, partial: isPartial } of pieces) {
      const seq = ++this.#seq;
      this.#file.append(isPartial ? partial : full, data);
      this.#tail.push(seq, time.ms, stream, isPartial, data);
      // A copy: the piece may be a view of the read chunk, which a follower must not keep alive.
      if (this.#listeners.size > 0) {
        this.#tell({ seq, time: time.ms, stream, partial: isPartial, data: Buffer.from(data) });
      }
    }
  }

  #tell(record: LogRecord): void {
    for (const listener of this.#listeners) {
      try {
        listener(record);
      } catch {
        this.#listeners.delete(listener);
      }
    }
  }

  // Arms the timer that records an unfinished line as partial once it has waited
  // partialFlushMs. One timer per source, armed only while a line is unfinished.
  #watchPending(source: Source, drained: boolean): void {
    if (source.splitter.pendingBytes === 0) {
      source.pendingSince = null;
      return;
    }
    // Any piece sent out means the held bytes were sent with it: what is held now is new.
    if (drained || source.pendingSince === null) source.pendingSince = performance.now();
    if (this.#options.partialFlushMs > 0 && source.timer === null) this.#armTimer(source, this.#options.partialFlushMs);
  }

  #armTimer(source: Source, delayMs: number): void {
    source.timer = setTimeout(() => {
      source.timer = null;
      if (source.pendingSince === null) return;
      const waited = performance.now() - source.pendingSince;
      if (waited < this.#options.partialFlushMs) {
        this.#armTimer(source, this.#options.partialFlushMs - waited);
        return;
      }
      source.pendingSince = null;
      this.#record(source.stream, source.splitter.flush());
    }, delayMs);
    source.timer.unref();
  }

  #end(source: Source): void {
    if (source.ended) return;
    source.ended = true;
    if (source.timer !== null) clearTimeout(source.timer);
    source.timer = null;
    if (source.burstTimer !== null) clearTimeout(source.burstTimer);
    source.burstTimer = null;
    releasePipe(source.enlarged);
    source.enlarged = 0;
    this.#record(source.stream, source.splitter.flush());
    this.#sources.delete(source);
    if (this.#sources.size === 0) for (const resolve of this.#endWaiters.splice(0)) resolve();
  }
}

// { maxFileBytes: undefined } means the default, as if it were absent.
function definedOnly<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}

function checkLimits(options: Required<Omit<ServiceLogsOptions, 'onError' | 'onRecovered'>>): void {
  for (const name of ['maxFileBytes', 'tailBytes', 'maxLineBytes', 'highWaterBytes'] as const) {
    const value = options[name];
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  }
  for (const name of ['keepFiles', 'partialFlushMs'] as const) {
    const value = options[name];
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer`);
  }
}
