// Log capture's copy loop in native code (native/src/log_frame.h): the records of a child's
// complete lines, header + line + '\n', framed into a buffer in one call per read.
import { binding } from './load.js';

/** Why frameLines stopped. */
export const FrameStop = {
  /** No '\n' in the rest of the chunk, or the chunk is done. */
  Unfinished: 0,
  /** The next line is longer than maxLineBytes. */
  TooLong: 1,
  /** The output has no room for the next record. */
  NoRoom: 2,
  /** `ends` is full. */
  EndsFull: 3,
} as const;
export type FrameStop = (typeof FrameStop)[keyof typeof FrameStop];

/**
 * Copies each complete line of chunk[from..] no longer than maxLineBytes into `out` at
 * outOffset as header + line + '\n', storing the offset in `chunk` of each line's '\n' in
 * ends[endsFrom...]. Returns how many lines it framed and why it stopped. Throws RangeError
 * for an offset outside its buffer.
 */
export function frameLines(chunk: Uint8Array, from: number, maxLineBytes: number, header: Uint8Array, out: Uint8Array, outOffset: number, ends: Int32Array, endsFrom: number): [count: number, stop: FrameStop] {
  return binding.frameLines(chunk, from, maxLineBytes, header, out, outOffset, ends, endsFrom);
}
