// V8 settings for a process that stays up (the daemon, init): a supervisor spends its life
// waiting, and what it runs between waits is short; resident memory matters more than the
// peak speed of hot JS. Both settings are applied at run time, before the command's modules
// load: users start the daemon as `node dist/bin/pidvisor.js daemon` or through `npm start`,
// so node's command line is not ours to set.
import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * V8 doubles its young generation (two semi-spaces, 16 MiB each at most on 64-bit Node 20)
 * whenever a burst of allocations survives a scavenge, and never shrinks it again: after
 * loading the API and serving one burst of 200 launches, 32 MiB of the daemon's resident
 * memory was an empty young generation. A supervisor allocates little that lives long per
 * request; the smallest young generation costs a few more scavenges of a small space.
 * The growth factor is read each time V8 considers growing, so it works once the VM runs:
 * with 1, the semi-spaces keep their initial size (1 MiB). (0 is not a valid factor: V8
 * crashes.)
 */
export function keepYoungGenerationSmall(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * JavaScript runs in V8's interpreter only: no optimizing compilers (TurboFan; Maglev, which
 * Node 22 turns on) and no baseline compiler (Sparkplug). Each tier set was measured on the
 * daemon in one run per bench, the sets interleaved (two busy cores, load average 4 to 30, so
 * CPU differences under ~15% are noise):
 * - resident memory, stock daemon: idle 60.1 MiB interpreted, 61.4 with Sparkplug, 71.3 with
 *   every tier (Node's default; the compilers' pages of the node binary alone are 4 MiB
 *   file-backed); with 200 services, the largest of 5 rounds of start and stop: 65.5, 68.3
 *   and 80.4 MiB (Sparkplug's code is never flushed, so it creeps up round after round);
 *   with 10,000 services all tiers held 30 MiB more.
 * - CPU: per launch + wait + delete over the API, Sparkplug 0.83x-0.97x and all tiers
 *   0.79x-1.07x of interpreted; per MiB of captured output no difference (2.4-2.8 ms/MiB
 *   either way); per restart after a crash no difference at load 4 (p50 2.77, 2.81, 2.83 ms).
 *   The one hot loop, GET /v1/processes with 3,000 services, costs 430-450 ms interpreted,
 *   0.88x-0.96x of that with Sparkplug, 0.77x with all tiers (0.58x with V8's default heap
 *   policy besides). A supervisor's JS is short handlers between syscalls and native code.
 * So Sparkplug would cost 1-3 MiB and all tiers 11-15 MiB for CPU that stays within noise
 * everywhere but listing. V8 reads these flags whenever it considers compiling a function.
 */
export function interpretJavaScriptOnly(): void {
  v8.setFlagsFromString('--no-opt');
  v8.setFlagsFromString('--no-maglev');
  v8.setFlagsFromString('--no-sparkplug');
}

/**
 * V8's memory-saving heap policy: the old generation grows by a smaller factor after each
 * collection, and code nobody runs is flushed sooner. With 200 services through five rounds
 * of start and stop, the daemon's RSS stayed 4 to 8 MiB lower.
 */
export function favourSmallHeap(): void {
  v8.setFlagsFromString('--optimize-for-size');
  smallHeapFavoured = true;
}

let smallHeapFavoured = false;

/**
 * Runs `work`, a burst that builds much long-lived state at once (a take-over of 1,000
 * services builds ~60 MiB of heap in a few hundred ms), under V8's default heap growth, then
 * favours a small heap again. Under --optimize-for-size the old generation grows by a small
 * factor at each collection, so such a burst runs through many full collections: at 1,000
 * services the taken-over daemon's CPU to its first answer was ~15% lower without it, for a
 * VmRSS ~6 MiB higher afterwards (bench:takeover, same load). Nothing changes for a daemon
 * that never favoured a small heap (one started as a library).
 */
export function withDefaultHeapGrowth<T>(work: () => T): T {
  if (!smallHeapFavoured) return work();
  v8.setFlagsFromString('--no-optimize-for-size');
  try {
    return work();
  } finally {
    v8.setFlagsFromString('--optimize-for-size');
  }
}

/**
 * One full collection, once start-up is over. Loading the modules leaves about 12 MiB of
 * garbage in the old generation, and an idle daemon allocates too little for V8 to collect
 * it for a long time: until then it is resident. Node has no API for this without
 * --expose-gc on its command line, so the flag is set now and the `gc` function taken from
 * a fresh context (only contexts made after the flag get it; the daemon makes no others).
 */
export function collectStartupGarbage(): void {
  fullCollection()();
}

let gcFunction: (() => void) | null = null;

/** V8's `gc`, without --expose-gc on node's command line (see collectStartupGarbage). */
function fullCollection(): () => void {
  if (gcFunction === null) {
    v8.setFlagsFromString('--expose-gc');
    gcFunction = vm.runInNewContext('gc') as () => void;
  }
  return gcFunction;
}

export interface IdleCollectionOptions {
  /** How often the heap's size is read. */
  intervalMs: number;
  /** Growth since the last full collection that makes one worth it once the heap is quiet. */
  growthBytes: number;
  /** Growth between two reads under which the heap counts as quiet (the burst is over). */
  quietBytes: number;
}

export const IDLE_COLLECTION: IdleCollectionOptions = { intervalMs: 1000, growthBytes: 2 ** 20, quietBytes: 256 * 1024 };

/**
 * One full collection after each burst of work, once the heap has stopped growing. With the
 * young generation kept small, what a burst allocates (200 launches: request bodies, compiled
 * paths, journal records) is promoted, then dies in the old generation, and V8 collects that
 * only when the old generation reaches its limit: between bursts the dead objects stay
 * resident. Five rounds of starting and stopping 200 services left the daemon 4 to 6 MiB above
 * what it held after the first (66 MiB -> 72 MiB; with this, 66 -> 67-68 MiB). V8's own memory
 * reducer would do this, but it starts only after a full collection V8 chose to make, which a
 * heap this small may not see for hours. A heap that keeps growing between reads is left to
 * V8 (sustained load: no extra collection), and a quiet daemon allocates too little to cross
 * `growthBytes`: it is not woken for nothing. The timer does not keep the process alive.
 * Returns a function that stops it.
 */
export function collectGarbageWhenIdle(options: IdleCollectionOptions = IDLE_COLLECTION): () => void {
  const gc = fullCollection();
  const used = (): number => v8.getHeapStatistics().used_heap_size;
  let afterCollection = used();
  let lastRead = afterCollection;
  const timer = setInterval(() => {
    const now = used();
    const quiet = Math.abs(now - lastRead) < options.quietBytes;
    lastRead = now;
    if (!quiet || now - afterCollection < options.growthBytes) return;
    gc();
    afterCollection = lastRead = used();
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
