// Long-lived responses (the event stream, followed logs): each is a PassThrough handed to
// fastify, so hooks, metrics and the audit still see the request.
//
// Memory is bounded per stream. Pieces wait in a queue and are written to the body only
// while less than `maxBufferedBytes` sit unread in the body and the socket; the backlog a
// client asked for (kept events, kept log records) waits there unencoded, as references to
// what the daemon keeps anyway. A stream is ended
// - when the client goes away (fastify destroys the body; the owner's cleanup runs),
// - when the app closes (every open stream is ended, so close() does not hang on them),
// - when the client falls behind: more than `maxBufferedBytes` of new pieces wait for it,
//   or nothing it was sent has been taken for `writeTimeoutMs`. The queue is dropped, a
//   last piece says so (code PIDVISOR_ERR_STREAM_BEHIND; the client resumes from the last
//   sequence number it saw), and a client that does not take even that within
//   `writeTimeoutMs` is disconnected: its buffers are freed then, not when it reads.
// A stream counts as open until its connection has closed.
import { performance } from 'node:perf_hooks';
import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { ApiError } from './errors.js';

export interface StreamLimits {
  /** Unread bytes a client may have in the body and the socket, and new bytes waiting for it. */
  maxBufferedBytes: number;
  /** A client that takes nothing for this long, with bytes waiting, is dropped. */
  writeTimeoutMs: number;
  /** Streams open at once, in all and per caller: the rest of the connections stay for short requests. */
  maxStreams: number;
  maxStreamsPerCaller: number;
}

export type DropReason = 'behind' | 'write-timeout';

/**
 * A piece to send: bytes, or a function that makes them when there is room (the backlog);
 * `seq` (an event or record number) says where a client that is dropped resumes.
 */
interface Piece {
  bytes: string | Buffer | (() => string | Buffer);
  seq: number | null;
}

export class LiveStream {
  readonly body = new PassThrough();
  readonly #reply: FastifyReply;
  readonly #limits: StreamLimits;
  readonly #cleanups: Array<() => void> = [];
  readonly #queue: Piece[] = [];
  /** Bytes of new (not backlog) pieces in the queue. */
  #queuedBytes = 0;
  /** Bytes written to the body since the start. */
  #written = 0;
  #taken = 0;
  #lastProgressAt = performance.now();
  #ended = false;
  #endedAt = 0;
  #farewell: ((reason: DropReason, lastSeq: number | null) => string | undefined) | null = null;
  /** `seq` of the last piece written to the body. */
  #lastSeq: number | null = null;
  #onDrop: ((reason: DropReason) => void) | null = null;

  constructor(reply: FastifyReply, limits: StreamLimits) {
    this.#reply = reply;
    this.#limits = limits;
    this.body.on('close', () => this.#cleanup());
    this.body.on('drain', () => this.#pump());
    reply.raw.on('drain', () => this.#pump());
  }

  get ended(): boolean {
    return this.#ended || this.body.destroyed;
  }

  /** Unread bytes in the body and the socket's user-space buffer. */
  get bufferedBytes(): number {
    return this.body.writableLength + this.body.readableLength + (this.#reply.raw.writableLength ?? 0);
  }

  /**
   * The last piece sent to a client that fell behind, given the `seq` of the last piece it
   * was sent (undefined: none; the connection is cut).
   */
  setFarewell(farewell: (reason: DropReason, lastSeq: number | null) => string | undefined): void {
    this.#farewell = farewell;
  }

  /** Told once when the stream drops its client. */
  setOnDrop(onDrop: (reason: DropReason) => void): void {
    this.#onDrop = onDrop;
  }

  /** Runs once the stream is over, however it ended. */
  onEnd(cleanup: () => void): void {
    if (this.ended) cleanup();
    else this.#cleanups.push(cleanup);
  }

  /** Queues new bytes; drops the client when too many wait for it. */
  write(chunk: string | Buffer, seq: number | null = null): void {
    if (this.ended) return;
    this.#queue.push({ bytes: chunk, seq });
    this.#queuedBytes += Buffer.byteLength(chunk);
    this.#pump();
    if (this.#queuedBytes > this.#limits.maxBufferedBytes) this.drop('behind');
  }

  /** Queues what was already there when the client connected, made into bytes only when there is room. */
  writeBacklog(bytes: string | Buffer | (() => string | Buffer), seq: number | null = null): void {
    if (this.ended) return;
    this.#queue.push({ bytes: typeof bytes === 'function' ? bytes : () => bytes, seq });
    this.#pump();
  }

  end(last?: string): void {
    if (this.ended) return;
    // Whatever is queued is sent first: an ended stream is complete, not cut.
    for (const piece of this.#queue.splice(0)) this.#send(piece);
    this.#queuedBytes = 0;
    this.#finish(last);
  }

  /** Gives up on a client that fell behind: the queue is dropped, the farewell sent. */
  drop(reason: DropReason): void {
    if (this.ended) return;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    const last = this.#farewell?.(reason, this.#lastSeq);
    this.#onDrop?.(reason);
    if (last === undefined) {
      // No way to say it in this format: cut the connection, so the client sees an
      // incomplete response rather than a clean end.
      this.#finish(undefined);
      this.#reply.raw.destroy();
      return;
    }
    this.#finish(last);
  }

  /**
   * Called now and then by LiveStreams: notes progress, drops a client that took nothing
   * for writeTimeoutMs, and disconnects an ended one that did not take its last bytes.
   */
  check(now: number): void {
    if (this.body.destroyed) return;
    const taken = this.#written - this.bufferedBytes;
    const waiting = this.bufferedBytes > 0 || this.#queue.length > 0;
    if (taken !== this.#taken || !waiting) {
      this.#taken = taken;
      this.#lastProgressAt = now;
    }
    this.#pump();
    if (this.#ended) {
      if (waiting && now - Math.max(this.#endedAt, this.#lastProgressAt) >= this.#limits.writeTimeoutMs) this.#reply.raw.destroy();
      return;
    }
    if (waiting && now - this.#lastProgressAt >= this.#limits.writeTimeoutMs) this.drop('write-timeout');
  }

  /** Sends the headers now, even before the first chunk, so a client knows it is connected. */
  flushHeadersSoon(): void {
    setImmediate(() => {
      const res = this.#reply.raw;
      if (!res.headersSent && !res.destroyed && !this.ended) res.flushHeaders();
    });
  }

  /** Writes queued pieces while the client has room for them. */
  #pump(): void {
    while (this.#queue.length > 0 && !this.ended && this.bufferedBytes < this.#limits.maxBufferedBytes) {
      const piece = this.#queue.shift()!;
      if (typeof piece.bytes !== 'function') this.#queuedBytes -= Buffer.byteLength(piece.bytes);
      this.#send(piece);
    }
  }

  #send(piece: Piece): void {
    const chunk = typeof piece.bytes === 'function' ? piece.bytes() : piece.bytes;
    this.#written += Buffer.byteLength(chunk);
    if (piece.seq !== null) this.#lastSeq = piece.seq;
    this.body.write(chunk);
  }

  #finish(last: string | undefined): void {
    this.#ended = true;
    this.#endedAt = performance.now();
    if (last === undefined) this.body.end();
    else {
      this.#written += Buffer.byteLength(last);
      this.body.end(last);
    }
    this.#cleanup();
  }

  #cleanup(): void {
    this.#ended = true;
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
  }
}

export class LiveStreams {
  readonly #open = new Map<LiveStream, string>();
  readonly #perCaller = new Map<string, number>();
  readonly #limits: StreamLimits;
  readonly #dropped: Record<DropReason, number> = { behind: 0, 'write-timeout': 0 };
  #timer: NodeJS.Timeout | null = null;

  constructor(limits: StreamLimits) {
    this.#limits = limits;
  }

  /** Streams whose connection has not closed yet (an ended one may still be sending). */
  get size(): number {
    return this.#open.size;
  }

  /** Unread bytes held for all open streams. */
  get bufferedBytes(): number {
    let total = 0;
    for (const stream of this.#open.keys()) total += stream.bufferedBytes;
    return total;
  }

  get dropped(): Readonly<Record<DropReason, number>> {
    return this.#dropped;
  }

  /** A new stream for `caller`, or 429 TOO_MANY_STREAMS when it (or everyone) has its share open. */
  open(reply: FastifyReply, caller: string): LiveStream {
    const mine = this.#perCaller.get(caller) ?? 0;
    if (mine >= this.#limits.maxStreamsPerCaller || this.#open.size >= this.#limits.maxStreams) {
      const whose = mine >= this.#limits.maxStreamsPerCaller ? `this caller has ${mine} open (at most ${this.#limits.maxStreamsPerCaller})` : `${this.#open.size} are open (at most ${this.#limits.maxStreams})`;
      throw new ApiError('PIDVISOR_ERR_TOO_MANY_STREAMS', `too many open streams: ${whose}; close one, or retry later`, { retryAfterSeconds: 1 }, { headers: { 'retry-after': '1' } });
    }
    const stream = new LiveStream(reply, this.#limits);
    stream.setOnDrop((reason) => this.#dropped[reason]++);
    this.#open.set(stream, caller);
    this.#perCaller.set(caller, mine + 1);
    reply.raw.once('close', () => this.#forget(stream));
    this.#timer ??= setInterval(() => this.#checkAll(), Math.max(50, Math.min(1000, Math.floor(this.#limits.writeTimeoutMs / 4)))).unref();
    return stream;
  }

  /** Ends every open stream (at app close), each with `last` if given. */
  endAll(last?: (stream: LiveStream) => string | undefined): void {
    for (const stream of [...this.#open.keys()]) stream.end(last?.(stream));
  }

  #forget(stream: LiveStream): void {
    const caller = this.#open.get(stream);
    if (caller === undefined) return;
    this.#open.delete(stream);
    const left = (this.#perCaller.get(caller) ?? 1) - 1;
    if (left === 0) this.#perCaller.delete(caller);
    else this.#perCaller.set(caller, left);
    if (this.#open.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  #checkAll(): void {
    const now = performance.now();
    for (const stream of [...this.#open.keys()]) stream.check(now);
  }
}
