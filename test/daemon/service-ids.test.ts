// Service ids: drawn at random, 12 hex digits, and never one twice in a daemon's life, however
// many services come and go (they are taken from blocks of random bytes, refilled as used).
import { afterEach, describe, expect, it } from 'vitest';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

let t: TestSupervisor | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('service ids', () => {
  it('are 12 hex digits, and distinct across more services than one block of random bytes holds', async () => {
    t = createTestSupervisor();
    const supervisor = t.supervisor;
    const ids = new Set<string>();
    // Created without starting (no process): 600 ids span three blocks of 256.
    for (let i = 0; i < 600; i++) {
      const { id } = await supervisor.launch({ command: ['true'], autostart: false });
      expect(id).toMatch(/^[0-9a-f]{12}$/);
      ids.add(id);
      await supervisor.remove(id);
    }
    expect(ids.size).toBe(600);
  });
});
