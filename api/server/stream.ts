// Long-lived responses (the event stream, followed logs): each is a PassThrough handed to
// fastify, so hooks, metrics and the audit still see the request. A stream is ended
// - when the client goes away (fastify destroys the body; the owner's cleanup runs),
// - when the app closes (every open stream is ended, so close() does not hang on them),
// - when the client reads too slowly: rather than buffer without bound, the stream is
//   ended and the client resumes from the last sequence number it saw.
import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';

export class LiveStream {
  readonly body = new PassThrough();
  readonly #reply: FastifyReply;
  readonly #maxBufferedBytes: number;
  readonly #cleanups: Array<() => void> = [];
  #ended = false;
  #backlogBytes = 0;

  constructor(reply: FastifyReply, maxBufferedBytes: number) {
    this.#reply = reply;
    this.#maxBufferedBytes = maxBufferedBytes;
    this.body.on('close', () => this.#cleanup());
  }

  get ended(): boolean {
    return this.#ended || this.body.destroyed;
  }

  /** Runs once the stream is over, however it ended. */
  onEnd(cleanup: () => void): void {
    if (this.ended) cleanup();
    else this.#cleanups.push(cleanup);
  }

  /** Writes unless ended; ends the stream (after `farewell`) when the client is too far behind. */
  write(chunk: string | Buffer, farewell?: string): void {
    if (this.ended) return;
    this.body.write(chunk);
    const buffered = this.body.writableLength + this.body.readableLength + (this.#reply.raw.writableLength ?? 0);
    if (buffered > this.#maxBufferedBytes + this.#backlogBytes) this.end(farewell);
    else if (buffered <= this.#maxBufferedBytes) this.#backlogBytes = 0; // the backlog has drained
  }

  /**
   * Writes what was already there when the client connected (bounded by its source) all at
   * once: it raises the allowance by its size, so it alone never counts as falling behind.
   */
  writeBacklog(chunk: string | Buffer): void {
    if (this.ended) return;
    this.#backlogBytes += Buffer.byteLength(chunk);
    this.body.write(chunk);
  }

  end(last?: string): void {
    if (this.ended) return;
    this.#ended = true;
    if (last === undefined) this.body.end();
    else this.body.end(last);
    this.#cleanup();
  }

  /** Sends the headers now, even before the first chunk, so a client knows it is connected. */
  flushHeadersSoon(): void {
    setImmediate(() => {
      const res = this.#reply.raw;
      if (!res.headersSent && !res.destroyed && !this.ended) res.flushHeaders();
    });
  }

  #cleanup(): void {
    this.#ended = true;
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
  }
}

export class LiveStreams {
  readonly #open = new Set<LiveStream>();
  readonly #maxBufferedBytes: number;

  constructor(maxBufferedBytes: number) {
    this.#maxBufferedBytes = maxBufferedBytes;
  }

  get size(): number {
    return this.#open.size;
  }

  open(reply: FastifyReply): LiveStream {
    const stream = new LiveStream(reply, this.#maxBufferedBytes);
    this.#open.add(stream);
    stream.onEnd(() => this.#open.delete(stream));
    return stream;
  }

  /** Ends every open stream (at app close), each with `last` if given. */
  endAll(last?: (stream: LiveStream) => string | undefined): void {
    for (const stream of [...this.#open]) stream.end(last?.(stream));
  }
}
