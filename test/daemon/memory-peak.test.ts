// The usage part of exit records, as the event log keeps thousands of them past their
// services: every record made by instanceUsage() shares one hidden class. Built by a spread
// (`{ ...cpu, maxRssKiB, ... }`), V8 gave each one past the first few a map of its own
// (~290 bytes a record). Checked in a fresh node with V8's %HaveSameMap (dist/ is built by
// the test setup).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('usage records of ended instances', () => {
  it('share one hidden class on each of the three ways a peak is found or not', () => {
    const cgroupLike = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-peak-'));
    try {
      fs.writeFileSync(path.join(cgroupLike, 'memory.peak'), '1048576\n');
      const memoryPeak = new URL('../../dist/daemon/memory-peak.js', import.meta.url).href;
      const script = [
        `const { instanceUsage } = await import(${JSON.stringify(memoryPeak)});`,
        'const ways = {',
        `  'memory.peak': (i) => instanceUsage({ userCpuMicros: i, systemCpuMicros: 1, maxRssKiB: 5 }, { daemonPeakKiB: 10, cgroupDir: ${JSON.stringify(cgroupLike)} }),`,
        "  'ru_maxrss': (i) => instanceUsage({ userCpuMicros: i, systemCpuMicros: 1, maxRssKiB: 50 }, { daemonPeakKiB: 10, cgroupDir: null }),",
        "  'unknown': (i) => instanceUsage({ userCpuMicros: i, systemCpuMicros: 1, maxRssKiB: 5 }, { daemonPeakKiB: 10, cgroupDir: null }),",
        '};',
        'const result = {};',
        'for (const [way, make] of Object.entries(ways)) {',
        '  const records = Array.from({ length: 200 }, (_, i) => make(i));',
        '  result[way] = { source: records[0].maxRssSource, ownMaps: records.filter((r) => !%HaveSameMap(r, records[0])).length };',
        '}',
        'console.log(JSON.stringify(result));',
      ].join('\n');
      const result = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
      expect(result.status, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({
        'memory.peak': { source: 'memory.peak', ownMaps: 0 },
        ru_maxrss: { source: 'ru_maxrss', ownMaps: 0 },
        unknown: { source: null, ownMaps: 0 },
      });
    } finally {
      fs.rmSync(cgroupLike, { recursive: true, force: true });
    }
  });
});
