// The last records of a service, kept in memory for `logs` without touching the disk.
// Their bytes live in one ring allocated once, so capturing allocates no buffer per line;
// tail() copies out what it returns. Bounded by bytes, charging each record a fixed
// overhead as well, so that a flood of empty lines is bounded too.
//
// The entries are columns of typed arrays used as a circular list, not an object per
// record: a child writing at full speed makes hundreds of records per read, and the lines
// framed together (pushLines) are copied into the ring in one piece.
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

/** What a record costs besides its bytes: its entry in the columns, roughly, and what keeps a flood of empty lines bounded. */
export const RECORD_OVERHEAD_BYTES = 128;

const STDERR = 1;
const PARTIAL = 2;
const FIRST_CAPACITY = 16;

export class TailBuffer {
  readonly #maxBytes: number;
  readonly #ringBytes: number;
  /** More entries than this cannot be live: each costs at least the overhead. */
  readonly #maxEntries: number;
  #ring: Buffer | null = null;
  /** Where the next record's bytes go. */
  #writeAt = 0;
  // The entries, oldest at #first, #count of them, in columns of #capacity slots.
  #capacity = 0;
  #first = 0;
  #count = 0;
  #seq = new Float64Array(0);
  #time = new Float64Array(0);
  /** Where its bytes start in the ring; they may wrap around the end. */
  #offset = new Int32Array(0);
  #length = new Int32Array(0);
  #flags = new Uint8Array(0);
  #bytes = 0;

  /** `maxRecordBytes`: the longest record; the newest one is always kept, whatever its size. */
  constructor(maxBytes: number, maxRecordBytes: number) {
    this.#maxBytes = maxBytes;
    // One more than the longest record: pushLines copies the '\n's between its lines too.
    this.#ringBytes = Math.max(maxBytes, maxRecordBytes + 1);
    this.#maxEntries = Math.floor(maxBytes / RECORD_OVERHEAD_BYTES) + 1;
  }

  push(seq: number, time: number, stream: LogStream, partial: boolean, data: Buffer): void {
    const length = Math.min(data.length, this.#ringBytes);
    // Evicting first keeps the live bytes, oldest to newest, one run around the ring that
    // the new record cannot overtake.
    this.#evictFor(length + RECORD_OVERHEAD_BYTES);
    const offset = this.#copyIn(data.length === length ? data : data.subarray(0, length));
    this.#add(seq, time, (stream === 'stderr' ? STDERR : 0) | (partial ? PARTIAL : 0), offset, length);
  }

  /**
   * The records of `count` whole lines of `chunk`, numbered from `firstSeq`: line i runs from
   * the byte after line i-1's '\n' (`from` for the first) to its own '\n' at ends[i].
   */
  pushLines(firstSeq: number, time: number, stream: LogStream, chunk: Buffer, from: number, ends: Int32Array, count: number): void {
    if (count === 0) return;
    // Only the newest lines that can stay: the older ones would be evicted by these anyway.
    let keep = count;
    let cost = 0;
    while (keep > 0) {
      const start = keep === 1 ? from : ends[keep - 2]! + 1;
      const lineCost = ends[keep - 1]! - start + RECORD_OVERHEAD_BYTES;
      if (keep < count && cost + lineCost > this.#maxBytes) break;
      cost += lineCost;
      keep--;
    }
    this.#evictFor(cost);
    const runStart = keep === 0 ? from : ends[keep - 1]! + 1;
    // The run, with the '\n's between its lines: at most the cost, which fits beside the live bytes.
    const ringStart = this.#copyIn(chunk.subarray(runStart, ends[count - 1]!));
    const flags = stream === 'stderr' ? STDERR : 0;
    for (let i = keep; i < count; i++) {
      const start = i === 0 ? from : ends[i - 1]! + 1;
      this.#add(firstSeq + i, time, flags, (ringStart + start - runStart) % this.#ringBytes, ends[i]! - start);
    }
  }

  /** The last `limit` records, oldest first, of one stream or both; each a copy. */
  last(limit: number, stream?: LogStream): LogRecord[] {
    const out: LogRecord[] = [];
    for (let i = this.#count - 1; i >= 0 && out.length < limit; i--) {
      const slot = (this.#first + i) % this.#capacity;
      const recordStream: LogStream = (this.#flags[slot]! & STDERR) !== 0 ? 'stderr' : 'stdout';
      if (stream === undefined || recordStream === stream) out.push(this.#record(slot, recordStream));
    }
    return out.reverse();
  }

  #record(slot: number, stream: LogStream): LogRecord {
    const offset = this.#offset[slot]!;
    const length = this.#length[slot]!;
    const data = Buffer.allocUnsafe(length);
    const first = Math.min(length, this.#ringBytes - offset);
    this.#ring!.copy(data, 0, offset, offset + first);
    this.#ring!.copy(data, first, 0, length - first);
    return { seq: this.#seq[slot]!, time: this.#time[slot]!, stream, partial: (this.#flags[slot]! & PARTIAL) !== 0, data };
  }

  /** Evicts the oldest records until `cost` more fits (all of them if it does not fit at all). */
  #evictFor(cost: number): void {
    while (this.#count > 0 && this.#bytes + cost > this.#maxBytes) {
      this.#bytes -= this.#length[this.#first]! + RECORD_OVERHEAD_BYTES;
      this.#first = (this.#first + 1) % this.#capacity;
      this.#count--;
    }
  }

  /** Copies `bytes` in at the write position, wrapping around; returns where they start. */
  #copyIn(bytes: Buffer): number {
    this.#ring ??= Buffer.alloc(this.#ringBytes);
    const offset = this.#writeAt;
    if (offset + bytes.length <= this.#ringBytes) {
      this.#ring.set(bytes, offset);
    } else {
      const first = this.#ringBytes - offset;
      this.#ring.set(bytes.subarray(0, first), offset);
      this.#ring.set(bytes.subarray(first), 0);
    }
    this.#writeAt = (offset + bytes.length) % this.#ringBytes;
    return offset;
  }

  #add(seq: number, time: number, flags: number, offset: number, length: number): void {
    if (this.#count === this.#capacity) this.#grow();
    const slot = (this.#first + this.#count) % this.#capacity;
    this.#seq[slot] = seq;
    this.#time[slot] = time;
    this.#flags[slot] = flags;
    this.#offset[slot] = offset;
    this.#length[slot] = length;
    this.#count++;
    this.#bytes += length + RECORD_OVERHEAD_BYTES;
  }

  // Doubles the columns (never past #maxEntries, which eviction keeps #count under), oldest first again.
  #grow(): void {
    const capacity = Math.min(this.#maxEntries, Math.max(FIRST_CAPACITY, this.#capacity * 2));
    const order = (column: Float64Array | Int32Array | Uint8Array, into: Float64Array | Int32Array | Uint8Array): void => {
      for (let i = 0; i < this.#count; i++) into[i] = column[(this.#first + i) % this.#capacity]!;
    };
    const seq = new Float64Array(capacity);
    const time = new Float64Array(capacity);
    const offset = new Int32Array(capacity);
    const length = new Int32Array(capacity);
    const flags = new Uint8Array(capacity);
    order(this.#seq, seq);
    order(this.#time, time);
    order(this.#offset, offset);
    order(this.#length, length);
    order(this.#flags, flags);
    [this.#seq, this.#time, this.#offset, this.#length, this.#flags] = [seq, time, offset, length, flags];
    this.#capacity = capacity;
    this.#first = 0;
  }
}
