// Reading captured pipes into one reused buffer. A net.Socket in its usual mode allocates a
// fresh 64 KiB ArrayBuffer for every read; at a child's full speed that is 16 of them per
// MiB, memory V8 counts as external and answers with full collections: measured in
// bench:logs with the daemon's V8 settings, the collector took a fifth of the capture's CPU.
// Node's own answer is the `onread` option ({ buffer, callback }: each read lands in the same
// buffer and the callback gets it), but only at construction, and the sockets of captured
// pipes are made elsewhere (spawn, take-over, the keeper's pipes) for every kind of reader.
// So this switches an existing socket to it the way net.Socket's constructor does: its
// kBuffer and kBufferCb slots, then the handle's useUserBuffer (lib/net.js, Node 12.6 to at
// least 22). Those are Node internals: when they are not found, the socket is left as it
// was and the caller keeps reading 'data' events.
//
// One buffer serves every socket: a read fills it and its callback runs before the next read
// of any socket, and the capture copies what it keeps (LineSplitter, RecordQueue, TailBuffer,
// followers' records) before returning. 64 KiB, as libuv asks for: what a killed daemon can
// hold from one read stays what it was.
import type net from 'node:net';

const READ_BUFFER = Buffer.allocUnsafeSlow(64 << 10);

type Slots = Record<symbol, unknown>;

/** Makes `socket` read into the shared buffer and hand each read to `onChunk` (a view, valid during the call); false when this Node does not allow it. */
export function readIntoSharedBuffer(socket: net.Socket, onChunk: (chunk: Buffer) => void): boolean {
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
  slots[kBufferCb] = (nread: number, buffer: Buffer): void => onChunk(buffer.subarray(0, nread));
  (handle.useUserBuffer as (buffer: Buffer) => void).call(handle, READ_BUFFER);
  return true;
}
