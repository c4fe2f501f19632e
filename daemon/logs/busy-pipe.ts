// Reading a busy child in bursts. A child writing at full speed into a pipe the daemon keeps
// empty wakes the daemon for each of its writes (8 KiB for coreutils, 4 KiB for stdio):
// measured here, 30 to 70 reads per MiB, each an event-loop turn, a call into JS and a write
// handed to the thread pool, and as many context switches for the child. So once a source
// gives BUSY_READ_BYTES or more in one burst of reads (PipeReader reads until a read comes back
// short of its 64 KiB buffer: the pipe is empty), its pipe is enlarged to BUSY_PIPE_BYTES, and
// after each such burst the source pauses for BATCH_DELAY_MS: the child fills the pipe
// meanwhile without blocking, and the next turn drains it in one burst of full reads followed
// by one write. A quiet service is never paused: its lines are read at once; a busy one's
// reach `logs` at most a few milliseconds later.
//
// A busy source also reads its enlarged pipe in one read of up to LARGE_READ_BYTES rather
// than sixteen of 64 KiB: each read is a call into JS, interpreted in the daemon (daemon/heap.ts),
// where the work per read (timestamps, the line cut by the read's edge, the tail's run) cost
// more than the framing of its 700 lines. ServiceLogs makes such a read only when the bytes
// waiting for the disk leave room for it (see there): a killed daemon loses no more than before.
//
// The pipe's bytes are not the daemon's: a killed daemon loses none of them (the keeper holds
// the read end), so this leaves the bound on what a crash loses as it was.
import { setPipeSize } from '../../native/pipe-size.js';

/** A burst this big means the child had written at least that much while the daemon was away. */
export const BUSY_READ_BYTES = 32 << 10;
/** The size of a normal read (libuv's uv__read reads streams 64 KiB at a time too): a shorter one emptied the pipe. */
export const FULL_READ_BYTES = 64 << 10;
/** What a busy source's pipe holds: a millisecond of a child writing at 1 GB/s. */
export const BUSY_PIPE_BYTES = 1 << 20;
export const BATCH_DELAY_MS = 1;
/** One read of a busy source: its whole enlarged pipe. */
export const LARGE_READ_BYTES = BUSY_PIPE_BYTES;
// Enlarged pipes count against the pipe-user-pages-soft of the daemon's user (64 MiB by
// default, fs/pipe.c); past it, every new pipe of an unprivileged user gets two pages. So at
// most this much of enlarged pipes at once, whatever the number of busy services.
const BUDGET_BYTES = 16 << 20;
let budgetUsed = 0;

/**
 * Enlarges the pipe read through `fd` to BUSY_PIPE_BYTES; returns its new capacity, taken from
 * the budget until releasePipe, or 0 when it stays as it was (budget spent, fd closed, not a
 * pipe, or the kernel refused: EPERM past pipe-max-size without CAP_SYS_RESOURCE).
 */
export function enlargePipe(fd: number): number {
  if (budgetUsed + BUSY_PIPE_BYTES > BUDGET_BYTES || fd < 0) return 0;
  try {
    const capacity = setPipeSize(fd, BUSY_PIPE_BYTES);
    budgetUsed += capacity;
    return capacity;
  } catch {
    return 0;
  }
}

/** Gives back what enlargePipe took: the source has ended (the pipe may live on, unaccounted). */
export function releasePipe(capacity: number): void {
  budgetUsed -= capacity;
}
