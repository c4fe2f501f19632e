// The buffers captured pipes are read into, shared by every source. A read allocating a fresh
// 64 KiB buffer (as a net.Socket in its usual mode does) makes 16 of them per MiB at a child's
// full speed, memory V8 counts as external and answers with full collections: measured in
// bench:logs with the daemon's V8 settings, the collector took a fifth of the capture's CPU.
//
// Two buffers serve every source: a read fills one and its onData runs before the next read
// of any source (PipeReader reads in the event loop's thread, one read and its callback after
// the other), and the capture copies what it keeps (LineSplitter, RecordQueue, TailBuffer,
// followers' records) before returning. 64 KiB, what libuv reads a stream with (so a source
// reads as it did through a socket); and, for a source its owner lets read more at once (a
// busy child's enlarged pipe), one of LARGE_READ_BYTES, allocated when first wanted.
import { FULL_READ_BYTES, LARGE_READ_BYTES } from './busy-pipe.js';

export const READ_BUFFER = Buffer.allocUnsafeSlow(FULL_READ_BYTES);
let large: Buffer | null = null;

/** The buffer of a large read (LARGE_READ_BYTES), made at the first one. */
export function largeReadBuffer(): Buffer {
  large ??= Buffer.allocUnsafeSlow(LARGE_READ_BYTES);
  return large;
}
