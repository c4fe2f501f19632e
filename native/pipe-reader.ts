// A captured output pipe read by the addon (native/src/pipe_reader.h) instead of a net.Socket:
// the reads land in a buffer the owner picks, each one reported by its byte count, EOF and
// read errors once each. A socket's stream machinery cost more per short-lived child than
// all of this (construction, stream state, EOF through its events, close), and pausing it
// was not exact (Node reads ahead into the stream's buffer); pause() here stops reading now.
import type { RawErrnoError, RawPipeReader } from './binding.js';
import { SystemError } from './errors.js';
import { binding } from './load.js';

export interface PipeReaderHandlers {
  /** `chunk` is a view of the buffer read into, valid only during the call; `capacity` is that buffer's size. */
  onData(chunk: Buffer, capacity: number): void;
  /** Once: EOF (`error` null) or a failed read. The reader is closed by then. */
  onEnd(error: SystemError | null): void;
}

export class PipeReader {
  #raw: RawPipeReader;
  #fd: number;
  #buffer: Buffer | null = null;
  #handlers: PipeReaderHandlers | null = null;
  #paused = false;
  #closeListeners: Array<() => void> | null = null;

  /**
   * Takes ownership of `fd`, a pipe's (or FIFO's) read end; closed by close() or at EOF. Throws
   * SystemError (syscall uv_poll_init) when libuv cannot watch it: EPERM for a regular file,
   * EEXIST when the loop watches it already; the fd is then still the caller's.
   */
  constructor(fd: number) {
    try {
      this.#raw = new binding.PipeReader(fd, (nread, error) => this.#onRead(nread, error));
    } catch (error) {
      throw (error as RawErrnoError).errno === undefined ? error : SystemError.from(error as RawErrnoError);
    }
    this.#fd = fd;
  }

  /** The fd read (for fstat, or a copy for the keeper); -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Starts reading into `buffer` (unless paused); each read goes to `handlers`. Once. */
  read(buffer: Buffer, handlers: PipeReaderHandlers): void {
    if (this.#handlers !== null) throw new Error('PipeReader: already read');
    if (this.closed) throw new Error('PipeReader: closed');
    this.#handlers = handlers;
    this.readInto(buffer);
    if (!this.#paused) this.#raw.start();
  }

  /** Where the next reads land; a view of it is what onData gets. */
  readInto(buffer: Buffer): void {
    if (buffer === this.#buffer || this.closed) return;
    this.#buffer = buffer;
    this.#raw.setBuffer(buffer);
  }

  /** Stops reading now: what is in the pipe stays there until resume(). */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    if (!this.closed) this.#raw.stop();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.closed && this.#handlers !== null) this.#raw.start();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Calls `listener` once when the fd is closed (at EOF, on error, or by close()). */
  onClose(listener: () => void): void {
    if (this.closed) {
      queueMicrotask(listener);
      return;
    }
    (this.#closeListeners ??= []).push(listener);
  }

  /** Stops reading and closes the fd; idempotent. A child still writing then gets EPIPE. */
  close(): void {
    if (this.closed) return;
    this.#raw.close();
    this.#fd = -1;
    this.#buffer = null;
    const listeners = this.#closeListeners;
    this.#closeListeners = null;
    if (listeners !== null) for (const listener of listeners) listener();
  }

  #onRead(nread: number, error: RawErrnoError | undefined): void {
    const handlers = this.#handlers!;
    if (nread > 0) {
      handlers.onData(this.#buffer!.subarray(0, nread), this.#buffer!.length);
      return;
    }
    this.close();
    handlers.onEnd(nread === 0 || error === undefined ? null : SystemError.from(error));
  }
}
