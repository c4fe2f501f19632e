// A seeded pseudo-random generator for chaos and property-style tests: a failure prints its
// seed and replays with it, which Math.random cannot do.

/** mulberry32: numbers in [0, 1) determined by `seed` alone. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
