// The peak memory in exit records is the instance's own, or null with the reason; never the
// daemon's. A vfork-style child's ru_maxrss starts at the daemon's RSS (DESIGN.md section 8),
// so these tests make the daemon (this test process) hold more than any of its small children
// would ever touch, and check that figure never shows up as a child's.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { capabilities, pidfdUnsupportedReason } from '../../native/index.js';
import type { ExitRecord } from '../../daemon/service.js';
import { describePeakMemory } from '../../api/cli/format.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
const BALLAST_BYTES = 128 << 20;

/** Why the instance cgroups of a test supervisor get no memory.peak here, or null when they do. */
function memoryPeakUnavailable(): string | null {
  const mount = capabilities().cgroup2Mount;
  if (mount === null) return 'no cgroup v2 mount';
  const enabled = fs.readFileSync(path.join(mount, 'cgroup.subtree_control'), 'utf8').split(/\s+/);
  if (!enabled.includes('memory')) return `the memory controller is not enabled in ${mount}/cgroup.subtree_control (bound to cgroup v1 here?)`;
  return null;
}
const noMemoryPeak = unsupported ?? memoryPeakUnavailable();

let t: TestSupervisor;
// The daemon's memory, touched so that it is resident: a child spawned now starts with an
// ru_maxrss of at least this much.
let ballast: Buffer | null = null;

beforeEach(() => {
  ballast = Buffer.alloc(BALLAST_BYTES, 1);
  expect(ballast[BALLAST_BYTES - 1]).toBe(1);
  t = createTestSupervisor();
});
afterEach(async () => {
  ballast = null;
  await t.close();
});

async function runToExit(name: string, command: string[], spec: Record<string, unknown> = {}): Promise<ExitRecord> {
  await t.supervisor.launch({ name, command, startGraceMs: 0, restart: { policy: 'no' }, ...spec });
  const exit = await t.supervisor.wait(name);
  expect(exit).not.toBeNull();
  return exit!;
}

describe.skipIf(unsupported !== null)(`peak memory in exit records${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it.each<[string, string[], { killMode?: string }]>([
    ['sleep', ['sleep', '0.05'], {}],
    ['exit 1', ['sh', '-c', 'exit 1'], {}],
    ['sleep, group kill mode', ['sleep', '0.05'], { killMode: 'group' }],
  ])("never reports the daemon's peak as the child's (%s)", async (_label, command, spec) => {
    const daemonPeakKiB = process.resourceUsage().maxRSS;
    expect(daemonPeakKiB).toBeGreaterThan(BALLAST_BYTES / 1024);
    const exit = await runToExit('small', command, spec);
    const usage = exit.rusage!;
    expect(usage.userCpuMicros + usage.systemCpuMicros).toBeGreaterThanOrEqual(0);
    if (usage.maxRssKiB === null) {
      expect(usage.maxRssSource).toBeNull();
      expect(usage.maxRssUnavailable).toMatch(/ru_maxrss is no higher than the daemon's own peak/);
    } else {
      // Only memory.peak can give a figure for so small a child; GNU time says about 1.7 MB.
      expect(usage).toMatchObject({ maxRssSource: 'memory.peak', maxRssUnavailable: null });
      expect(usage.maxRssKiB).toBeLessThan(BALLAST_BYTES / 1024 / 4);
    }
    // `pidvisor status` says the same.
    expect(describePeakMemory(exit)).toMatch(usage.maxRssKiB === null ? /^unknown: .*ru_maxrss/ : /^\d+\.\d MiB \(memory\.peak\)$/);
    if (spec.killMode === 'group') expect(usage.maxRssUnavailable).toMatch(/no cgroup of its own/);
    else if (noMemoryPeak !== null) expect(usage.maxRssUnavailable).toMatch(/memory controller is off/);
  });

  it("reports the child's own peak when it is above the daemon's", async () => {
    // dd reads one block of /dev/zero into a buffer of bs bytes: every page of it is touched.
    const blockMiB = Math.ceil(process.resourceUsage().maxRSS / 1024) + 64;
    const exit = await runToExit('big', ['dd', 'if=/dev/zero', 'of=/dev/null', `bs=${blockMiB}M`, 'count=1', 'status=none']);
    expect(exit.code).toBe(0);
    const usage = exit.rusage!;
    expect(usage.maxRssUnavailable).toBeNull();
    expect(usage.maxRssSource).toBe(noMemoryPeak === null ? 'memory.peak' : 'ru_maxrss');
    expect(usage.maxRssKiB).toBeGreaterThanOrEqual(blockMiB * 1024);
    // Its own block and a few MiB of program, nowhere near twice as much.
    expect(usage.maxRssKiB).toBeLessThan((blockMiB + 64) * 1024);
    expect(describePeakMemory(exit)).toBe(`${(usage.maxRssKiB! / 1024).toFixed(1)} MiB (${usage.maxRssSource})`);
  });

  it.skipIf(noMemoryPeak !== null)(`takes the instance cgroup's memory.peak${noMemoryPeak ? ` (skipped: ${noMemoryPeak})` : ''}`, async () => {
    const exit = await runToExit('peak', ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=48M', 'count=1', 'status=none'], { killMode: 'cgroup' });
    const usage = exit.rusage!;
    expect(usage).toMatchObject({ maxRssSource: 'memory.peak', maxRssUnavailable: null });
    expect(usage.maxRssKiB).toBeGreaterThanOrEqual(48 * 1024);
    expect(usage.maxRssKiB).toBeLessThan(BALLAST_BYTES / 1024);
  });
});
