// The bytes waiting for the disk: a FIFO of encoded records in fixed slabs that are
// reused once written. A child writing at full speed would otherwise leave a fresh buffer
// of garbage per read, and garbage ArrayBuffers are freed only when the GC gets to them:
// with reuse, the queue's memory is its bytes rounded up to slabs, whatever the rate.
//
// A record (header, data, '\n') never straddles two slabs, so each slab holds a run of whole
// records, and the writer can cut between any two.
import { frameLines, FrameStop } from '../../native/frame-lines.js';

const NEWLINE = 0x0a;
// As big as the pipe reads. Idle, a service keeps one slab and at most two spares.
const SLAB_BYTES = 64 << 10;
const SPARE_SLABS = 2;
// A busy service fills 20 or more slabs per 1 MiB burst of reads (records are 40 bytes longer
// than lines), far more than its spares: the rest come from this pool, shared by every
// service so that the memory idle services keep stays bounded (2 MiB in all). Without it each
// burst allocated its slabs afresh, external memory that V8 answers with full collections.
const POOL_SLABS = 32;
const pool: Buffer[] = [];

interface Slab {
  buffer: Buffer;
  /** Next byte to write out. */
  start: number;
  /** Next byte to fill. */
  end: number;
}

export class RecordQueue {
  #slabs: Slab[] = [];
  #spare: Buffer[] = [];
  #bytes = 0;

  /** Bytes queued, including those of a write in flight (they leave with consume()). */
  get bytes(): number {
    return this.#bytes;
  }

  append(header: Buffer, data: Buffer): void {
    const length = header.length + data.length + 1;
    const slab = this.#slabWithRoom(length);
    // TypedArray#set rather than Buffer#copy: this runs per line, and it is the cheaper call.
    slab.buffer.set(header, slab.end);
    slab.buffer.set(data, slab.end + header.length);
    slab.end += length;
    slab.buffer[slab.end - 1] = NEWLINE;
    this.#bytes += length;
  }

  /**
   * Queues a record (`header`, line, '\n') for each complete line of chunk[from..] up to
   * maxLineBytes long, framed in native code straight into the slabs, until a line the caller
   * must handle: `stop` says which (see FrameStop; NoRoom: its record is bigger than a slab).
   * The offset in `chunk` of each framed line's '\n' is in ends[0..count).
   */
  appendLines(header: Buffer, chunk: Buffer, from: number, maxLineBytes: number, ends: Int32Array): { count: number; stop: FrameStop } {
    let count = 0;
    for (;;) {
      let slab = this.#slabs.at(-1);
      if (slab === undefined) slab = this.#newSlab(0);
      const [framed, stop] = frameLines(chunk, from, maxLineBytes, header, slab.buffer, slab.end, ends, count);
      if (framed > 0) {
        const next = ends[count + framed - 1]! + 1;
        const bytes = framed * header.length + (next - from);
        slab.end += bytes;
        this.#bytes += bytes;
        count += framed;
        from = next;
      }
      // A full slab: on to a new one, unless even an empty one had no room.
      if (stop !== FrameStop.NoRoom || (framed === 0 && slab.end === 0)) return { count, stop };
      this.#newSlab(0);
    }
  }

  /**
   * The oldest whole records, as views of up to `maxBytes` in all (at least one view when
   * anything is queued). They stay valid until consume() passes them: appends only ever
   * fill bytes after them.
   */
  head(maxBytes: number): Buffer[] {
    // An empty first slab ahead of others: left by consume() just before a record too big
    // for it started a new one. Nothing of it is in flight.
    while (this.#slabs.length > 1 && this.#slabs[0]!.start === this.#slabs[0]!.end) this.#retire();
    const views: Buffer[] = [];
    let bytes = 0;
    for (const { buffer, start, end } of this.#slabs) {
      if (end === start) break;
      if (views.length > 0 && bytes + end - start > maxBytes) break;
      views.push(buffer.subarray(start, end));
      bytes += end - start;
    }
    return views;
  }

  /** Takes `length` bytes off the head, which head() returned: written or dropped. */
  consume(length: number): void {
    while (length > 0) {
      const slab = this.#slabs[0]!;
      const taken = Math.min(length, slab.end - slab.start);
      slab.start += taken;
      this.#bytes -= taken;
      length -= taken;
      if (slab.start < slab.end) return;
      if (this.#slabs.length > 1) this.#retire();
      else slab.start = slab.end = 0; // empty, and nothing is in flight from it: start over
    }
  }

  #retire(): void {
    const { buffer } = this.#slabs.shift()!;
    if (buffer.length !== SLAB_BYTES) return;
    if (this.#spare.length < SPARE_SLABS) this.#spare.push(buffer);
    else if (pool.length < POOL_SLABS) pool.push(buffer);
  }

  #slabWithRoom(length: number): Slab {
    const last = this.#slabs.at(-1);
    if (last !== undefined && last.buffer.length - last.end >= length) return last;
    return this.#newSlab(length);
  }

  #newSlab(length: number): Slab {
    // Only a record longer than a slab (maxLineBytes near 64 KiB or more) gets one of its own.
    const buffer =
      length > SLAB_BYTES ? Buffer.allocUnsafeSlow(length) : (this.#spare.pop() ?? pool.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES));
    const slab = { buffer, start: 0, end: 0 };
    this.#slabs.push(slab);
    return slab;
  }
}
