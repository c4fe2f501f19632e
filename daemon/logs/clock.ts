// Capture timestamps: wall-clock time with nanosecond resolution that never runs backwards
// between two reads, so records in a file are in time order. Date.now() has only
// milliseconds and jumps when the clock is set; the monotonic clock has nanoseconds but no
// epoch. So the monotonic clock is anchored to the wall clock, and anchored again when the
// two drift more than a second apart (the clock was set): only then can time go back,
// as it did for everything else on the machine.
const RESYNC_NS = 1_000_000_000n;

let anchorWallNs = 0n;
let anchorMonoNs = 0n;
let lastNs = 0n;

function anchor(): void {
  anchorMonoNs = process.hrtime.bigint();
  anchorWallNs = BigInt(Date.now()) * 1_000_000n;
}

export interface Instant {
  /** Nanoseconds since the epoch. */
  ns: bigint;
  /** Milliseconds since the epoch, as Date uses. */
  ms: number;
}

export function now(): Instant {
  if (anchorMonoNs === 0n) anchor();
  let ns = anchorWallNs + (process.hrtime.bigint() - anchorMonoNs);
  const wallNs = BigInt(Date.now()) * 1_000_000n;
  if (ns - wallNs > RESYNC_NS || wallNs - ns > RESYNC_NS) {
    anchor();
    ns = anchorWallNs;
  } else if (ns < lastNs) {
    ns = lastNs; // unreachable with a monotonic clock; cheap insurance
  }
  lastNs = ns;
  return { ns, ms: Number(ns / 1_000_000n) };
}
