// 10,000 spawn/exit cycles: nothing accumulates. No zombies, fds back to where they were,
// and resident memory flat once warmed up (noise allowed; a leak of even 1 KiB per spawn
// would show as 10 MB).
import { describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason, spawn } from '../../native/index.js';
import { openFds, rssBytes, zombieChildren } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
const CYCLES = 10_000;
const IN_FLIGHT = 16;

async function runCycles(count: number): Promise<void> {
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < count) {
      started++;
      const exit = await spawn({ command: '/bin/true' }).wait();
      if (exit.code !== 0) throw new Error(`/bin/true exited with ${JSON.stringify(exit)}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
}

describe.skipIf(unsupported !== null)(`soak${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it(`${CYCLES} spawn/exit cycles leave no zombie, no fd and no memory behind`, async () => {
    await runCycles(500); // warm up: JIT, the cached /dev/null, allocator pools
    global.gc?.();
    const fdsBefore = openFds();
    const rssBefore = rssBytes();
    await runCycles(CYCLES);
    global.gc?.();
    expect(zombieChildren()).toEqual([]);
    expect(openFds()).toEqual(fdsBefore);
    const growthMiB = (rssBytes() - rssBefore) / 2 ** 20;
    expect(growthMiB).toBeLessThan(10);
  }, 120_000);
});
