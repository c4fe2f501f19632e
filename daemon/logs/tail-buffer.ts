// The last records of a service, kept in memory for `logs` without touching the disk.
// Their bytes live in one ring allocated once, so capturing allocates no buffer per line;
// tail() copies out what it returns. Bounded by bytes, charging each record a fixed
// overhead as well, so that a flood of empty lines is bounded too.
//
// The unit kept is a run: the whole lines of one read (pushLines, the native framing path),
// copied into the ring in one piece with the '\n's between them, or one record alone (push).
// Nothing is done per line when a read comes in or when old lines leave: the daemon runs its
// JS in V8's interpreter (daemon/heap.ts), where a loop over the 700 lines of a 64 KiB read
// cost more than everything else in capture. Costs of a run's lines come from their ends
// (sums in closed form), and the lines a new run pushes out are found by binary search.
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

/** What a record costs besides its bytes: its share of the bookkeeping, and what keeps a flood of empty lines bounded. */
export const RECORD_OVERHEAD_BYTES = 128;

interface Run {
  /** Seq of line 0 of the run (evicted or not). */
  seq: number;
  time: number;
  stream: LogStream;
  /** For a run of one record from push(): whether it is partial. Lines of pushLines are whole. */
  partial: boolean;
  /** Where line 0 starts, in the coordinates of `ends` (its offset in the read). */
  base: number;
  /** The '\n' of each line: line i is [ends[i-1] + 1, ends[i]), line 0 [base, ends[0]). */
  ends: Int32Array;
  /** Position p of the run is at (ringOrigin + p) modulo the ring's size; it may wrap around the end. */
  ringOrigin: number;
  /** The first line still kept; the ones before it were evicted. */
  first: number;
}

export class TailBuffer {
  readonly #maxBytes: number;
  readonly #ringBytes: number;
  #ring: Buffer | null = null;
  /** Where the next run's bytes go. */
  #writeAt = 0;
  /** Oldest first; runs before #head are gone. */
  #runs: Run[] = [];
  #head = 0;
  #bytes = 0;

  /** `maxRecordBytes`: the longest record; the newest one is always kept, whatever its size. */
  constructor(maxBytes: number, maxRecordBytes: number) {
    this.#maxBytes = maxBytes;
    // One more than the longest record: a run holds the '\n's between its lines too.
    this.#ringBytes = Math.max(maxBytes, maxRecordBytes + 1);
  }

  push(seq: number, time: number, stream: LogStream, partial: boolean, data: Buffer): void {
    const length = Math.min(data.length, this.#ringBytes - 1);
    // Evicting first keeps the live bytes, oldest to newest, one run around the ring that
    // the new record cannot overtake.
    this.#evictFor(length + RECORD_OVERHEAD_BYTES);
    const ringOrigin = this.#copyIn(data.length === length ? data : data.subarray(0, length));
    this.#add({ seq, time, stream, partial, base: 0, ends: Int32Array.of(length), ringOrigin, first: 0 });
  }

  /**
   * The records of `count` whole lines of `chunk`, numbered from `firstSeq`: line i runs from
   * the byte after line i-1's '\n' (`from` for the first) to its own '\n' at ends[i].
   */
  pushLines(firstSeq: number, time: number, stream: LogStream, chunk: Buffer, from: number, ends: Int32Array, count: number): void {
    if (count === 0) return;
    // The ends as they are, copied in one native call: no loop over the lines here.
    const run: Run = { seq: firstSeq, time, stream, partial: false, base: from, ends: ends.slice(0, count), ringOrigin: 0, first: 0 };
    // Only the newest lines that can stay: the older ones would be evicted by these anyway.
    run.first = firstKept(run, this.#maxBytes);
    // A line of this run that cannot stay is newer than every record kept so far: those go
    // too, or the tail would keep an old record and lose a newer one (one by one, the lines
    // after it would have evicted them first).
    this.#evictFor(run.first > 0 ? Infinity : runCost(run, 0, count));
    const start = lineStart(run, run.first);
    // The kept lines with the '\n's between them: at most their cost, which fits beside the live bytes.
    run.ringOrigin = this.#copyIn(chunk.subarray(start, run.ends[count - 1]!)) - start;
    this.#add(run);
  }

  /** The last `limit` records, oldest first, of one stream or both; each a copy. */
  last(limit: number, stream?: LogStream): LogRecord[] {
    const out: LogRecord[] = [];
    for (let r = this.#runs.length - 1; r >= this.#head && out.length < limit; r--) {
      const run = this.#runs[r]!;
      if (stream !== undefined && run.stream !== stream) continue;
      for (let i = run.ends.length - 1; i >= run.first && out.length < limit; i--) out.push(this.#record(run, i));
    }
    return out.reverse();
  }

  #record(run: Run, line: number): LogRecord {
    const start = lineStart(run, line);
    const length = run.ends[line]! - start;
    const offset = (((run.ringOrigin + start) % this.#ringBytes) + this.#ringBytes) % this.#ringBytes;
    const data = Buffer.allocUnsafe(length);
    const first = Math.min(length, this.#ringBytes - offset);
    this.#ring!.copy(data, 0, offset, offset + first);
    this.#ring!.copy(data, first, 0, length - first);
    return { seq: run.seq + line, time: run.time, stream: run.stream, partial: run.partial, data };
  }

  /** Evicts the oldest records until `cost` more fits (all of them if it does not fit at all). */
  #evictFor(cost: number): void {
    while (this.#head < this.#runs.length && this.#bytes + cost > this.#maxBytes) {
      const run = this.#runs[this.#head]!;
      const count = run.ends.length;
      const whole = runCost(run, run.first, count);
      if (this.#bytes - whole + cost > this.#maxBytes) {
        this.#bytes -= whole;
        this.#head++;
        continue;
      }
      // Part of this run goes: the fewest oldest lines that make room (binary search on the cost).
      const excess = this.#bytes + cost - this.#maxBytes;
      let low = run.first + 1;
      let high = count;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (runCost(run, run.first, middle) >= excess) high = middle;
        else low = middle + 1;
      }
      this.#bytes -= runCost(run, run.first, low);
      run.first = low;
      if (low === count) this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#runs.length) {
      this.#runs = this.#runs.slice(this.#head);
      this.#head = 0;
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

  #add(run: Run): void {
    this.#runs.push(run);
    this.#bytes += runCost(run, run.first, run.ends.length);
  }
}

/** Where line `i` of a run starts. */
function lineStart(run: Run, i: number): number {
  return i === 0 ? run.base : run.ends[i - 1]! + 1;
}

/** What lines [from, to) of a run cost: their bytes (without the '\n's) plus the overhead each. */
function runCost(run: Run, from: number, to: number): number {
  if (to <= from) return 0;
  const bytes = run.ends[to - 1]! - lineStart(run, from) - (to - 1 - from);
  return bytes + (to - from) * RECORD_OVERHEAD_BYTES;
}

/** The first line of a run that fits in `maxBytes` together with all after it (the last always stays). */
function firstKept(run: Run, maxBytes: number): number {
  const count = run.ends.length;
  let low = 0;
  let high = count - 1;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (runCost(run, middle, count) <= maxBytes) high = middle;
    else low = middle + 1;
  }
  return low;
}
