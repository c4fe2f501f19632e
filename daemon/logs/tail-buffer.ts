// The last records of a service, kept in memory for `logs` without touching the disk.
// Their bytes live in one ring allocated once, so capturing allocates no buffer per line;
// tail() copies out what it returns. Bounded by bytes, charging each record a fixed
// overhead as well, so that a flood of empty lines is bounded too.
import type { LogStream } from './cri-format.js';

export interface LogRecord {
  /** Increases by one per record of the service, across both streams. */
  seq: number;
  /** Capture time, milliseconds since the epoch. */
  time: number;
  stream: LogStream;
  /** True for a piece of a line: too long, cut before its '\n' came, or the last bytes at EOF. */
  partial: boolean;
  /** The bytes verbatim, without the '\n'. */
  data: Buffer;
}

/** What a record costs besides its bytes: its entry object and array slot, roughly. */
export const RECORD_OVERHEAD_BYTES = 128;

interface Entry {
  seq: number;
  time: number;
  stream: LogStream;
  partial: boolean;
  /** Where its bytes start in the ring; they may wrap around the end. */
  offset: number;
  length: number;
}

export class TailBuffer {
  readonly #maxBytes: number;
  readonly #ringBytes: number;
  #ring: Buffer | null = null;
  /** Where the next record's bytes go. */
  #writeAt = 0;
  #entries: Entry[] = [];
  #head = 0;
  #bytes = 0;

  /** `maxRecordBytes`: the longest record; the newest one is always kept, whatever its size. */
  constructor(maxBytes: number, maxRecordBytes: number) {
    this.#maxBytes = maxBytes;
    this.#ringBytes = Math.max(maxBytes, maxRecordBytes);
  }

  push(seq: number, time: number, stream: LogStream, partial: boolean, data: Buffer): void {
    const length = Math.min(data.length, this.#ringBytes);
    // Evicting first keeps the live bytes, oldest to newest, one run around the ring that
    // the new record cannot overtake.
    const cost = length + RECORD_OVERHEAD_BYTES;
    while (this.#head < this.#entries.length && this.#bytes + cost > this.#maxBytes) this.#evict();
    this.#ring ??= Buffer.alloc(this.#ringBytes);
    const offset = this.#writeAt;
    if (offset + length <= this.#ringBytes) {
      this.#ring.set(data.length === length ? data : data.subarray(0, length), offset);
    } else {
      const first = this.#ringBytes - offset;
      this.#ring.set(data.subarray(0, first), offset);
      this.#ring.set(data.subarray(first, length), 0);
    }
    this.#writeAt = (offset + length) % this.#ringBytes;
    this.#entries.push({ seq, time, stream, partial, offset, length });
    this.#bytes += cost;
  }

  /** The last `limit` records, oldest first, of one stream or both; each a copy. */
  last(limit: number, stream?: LogStream): LogRecord[] {
    const out: LogRecord[] = [];
    for (let i = this.#entries.length - 1; i >= this.#head && out.length < limit; i--) {
      const entry = this.#entries[i]!;
      if (stream === undefined || entry.stream === stream) out.push(this.#record(entry));
    }
    return out.reverse();
  }

  #record({ seq, time, stream, partial, offset, length }: Entry): LogRecord {
    const data = Buffer.allocUnsafe(length);
    const first = Math.min(length, this.#ringBytes - offset);
    this.#ring!.copy(data, 0, offset, offset + first);
    this.#ring!.copy(data, first, 0, length - first);
    return { seq, time, stream, partial, data };
  }

  #evict(): void {
    this.#bytes -= this.#entries[this.#head]!.length + RECORD_OVERHEAD_BYTES;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
