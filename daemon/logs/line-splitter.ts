// Cuts one source's byte stream into lines of at most maxLineBytes. Bytes after the last
// '\n' of a chunk wait for the rest of their line (pipes split lines anywhere), but never
// more than maxLineBytes of them: a longer line goes out in partial pieces, so a child
// that never writes '\n' cannot grow the daemon's memory.
import type { Piece } from './cri-format.js';

const NEWLINE = 0x0a;

export class LineSplitter {
  readonly #maxLineBytes: number;
  /** Copies, never views: a view would keep the whole read chunk alive. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(maxLineBytes: number) {
    if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError('maxLineBytes must be a positive integer');
    }
    this.#maxLineBytes = maxLineBytes;
  }

  /** Bytes of an unfinished line held back. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** The pieces that `chunk` completes. They may be views of `chunk`: use them before it changes. */
  push(chunk: Buffer): Piece[] {
    const pieces: Piece[] = [];
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(NEWLINE, start);
      const end = newline === -1 ? chunk.length : newline;
      if (newline !== -1 && this.#pendingBytes === 0 && end - start <= this.#maxLineBytes) {
        pieces.push({ data: chunk.subarray(start, end), partial: false }); // the common case: no copy
      } else {
        this.#hold(chunk.subarray(start, end), pieces);
        if (newline !== -1) pieces.push({ data: this.#take(), partial: false });
      }
      if (newline === -1) break;
      start = newline + 1;
    }
    return pieces;
  }

  /** What is held back, as a partial piece: at EOF, or when it has waited too long. */
  flush(): Piece[] {
    return this.#pendingBytes === 0 ? [] : [{ data: this.#take(), partial: true }];
  }

  // Holds `bytes` back, sending out a partial piece each time maxLineBytes are held. A
  // piece of exactly maxLineBytes stays until the next byte shows whether it ends the line.
  #hold(bytes: Buffer, pieces: Piece[]): void {
    while (bytes.length > 0) {
      const room = this.#maxLineBytes - this.#pendingBytes;
      if (bytes.length <= room) {
        this.#pending.push(Buffer.from(bytes));
        this.#pendingBytes += bytes.length;
        return;
      }
      if (room > 0) {
        this.#pending.push(Buffer.from(bytes.subarray(0, room)));
        this.#pendingBytes += room;
        bytes = bytes.subarray(room);
      }
      pieces.push({ data: this.#take(), partial: true });
    }
  }

  #take(): Buffer {
    const data = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    return data;
  }
}
