// Reading captured pipes into reused buffers. A net.Socket in its usual mode allocates a
// fresh 64 KiB ArrayBuffer for every read; at a child's full speed that is 16 of them per
// MiB, memory V8 counts as external and answers with full collections: measured in
// bench:logs with the daemon's V8 settings, the collector took a fifth of the capture's CPU.
// Node's own answer is the `onread` option ({ buffer, callback }: each read lands in the same
// buffer and the callback gets it; `buffer` may be a function that picks the next read's
// buffer), but only at construction, and the sockets of captured pipes are made elsewhere
// (spawn, take-over, the keeper's pipes) for every kind of reader. So this switches an
// existing socket to it the way net.Socket's constructor does: its kBuffer, kBufferCb and
// kBufferGen slots, then the handle's useUserBuffer (lib/net.js, Node 12.6 to at least 22).
// Those are Node internals: when they are not found, the socket is left as it was and the
// caller keeps reading 'data' events (64 KiB reads).
//
// Two buffers serve every socket: a read fills one and its callback runs before the next
// read of any socket, and the capture copies what it keeps (LineSplitter, RecordQueue,
// TailBuffer, followers' records) before returning. 64 KiB, as libuv asks for; and, for a
// source its owner lets read more at once (a busy child's enlarged pipe), one of
// LARGE_READ_BYTES, allocated when first wanted.
import type net from 'node:net';
import { FULL_READ_BYTES, LARGE_READ_BYTES } from './busy-pipe.js';

const READ_BUFFER = Buffer.allocUnsafeSlow(FULL_READ_BYTES);
let largeReadBuffer: Buffer | null = null;

type Slots = Record<symbol, unknown>;

/**
 * Makes `socket` read into the shared buffers and hand each read to `onChunk` (a view, valid
 * during the call, and the size of the buffer it was read into: a shorter chunk emptied the
 * pipe). After each read, `readLarge()` says whether the next one may take up to
 * LARGE_READ_BYTES. False when this Node does not allow it.
 */
export function readIntoSharedBuffer(socket: net.Socket, onChunk: (chunk: Buffer, capacity: number) => void, readLarge: () => boolean): boolean {
  const symbols = Object.getOwnPropertySymbols(socket);
  const kBuffer = symbols.find((symbol) => symbol.description === 'kBuffer');
  const kBufferCb = symbols.find((symbol) => symbol.description === 'kBufferCb');
  const kBufferGen = symbols.find((symbol) => symbol.description === 'kBufferGen');
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: unknown } | null })._handle;
  if (kBuffer === undefined || kBufferCb === undefined || kBufferGen === undefined) return false;
  if (handle === null || handle === undefined || typeof handle.useUserBuffer !== 'function') return false;
  const slots = socket as unknown as Slots;
  if (slots[kBuffer] !== null || slots[kBufferCb] !== null || slots[kBufferGen] !== null) return false;
  slots[kBuffer] = READ_BUFFER;
  slots[kBufferCb] = (nread: number, buffer: Buffer): void => onChunk(buffer.subarray(0, nread), buffer.length);
  // Called after each read (onStreamRead); what it returns is where the handle reads next.
  slots[kBufferGen] = (): Buffer => (readLarge() ? (largeReadBuffer ??= Buffer.allocUnsafeSlow(LARGE_READ_BYTES)) : READ_BUFFER);
  (handle.useUserBuffer as (buffer: Buffer) => void).call(handle, READ_BUFFER);
  return true;
}
