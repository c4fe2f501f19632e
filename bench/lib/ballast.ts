// Off-heap memory held by the Node process: Buffers whose every page is written, so it is
// resident and mapped. V8 excludes its own heap from fork() (MADV_DONTFORK), so only
// memory like this shows what fork-based spawning costs; a CLONE_VM spawn never copies it.

const CHUNK_MIB = 64;
const PAGE = 4096;

export interface Ballast {
  readonly buffers: Buffer[];
  readonly mib: number;
}

export function holdBallast(mib: number): Ballast {
  const buffers: Buffer[] = [];
  for (let left = mib; left > 0; left -= CHUNK_MIB) {
    const buffer = Buffer.allocUnsafeSlow(Math.min(left, CHUNK_MIB) * 2 ** 20);
    // One write per page makes the whole buffer resident (allocUnsafeSlow maps it lazily).
    for (let offset = 0; offset < buffer.length; offset += PAGE) buffer[offset] = 1;
    buffers.push(buffer);
  }
  return { buffers, mib };
}

/** Reads one byte of every page back, so the optimiser can never drop the buffers early. */
export function checksum(ballast: Ballast): number {
  let sum = 0;
  for (const buffer of ballast.buffers) for (let offset = 0; offset < buffer.length; offset += PAGE) sum += buffer[offset]!;
  return sum;
}
