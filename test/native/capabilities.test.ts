// The probe answers from real syscalls; the pure mappings around it are exact.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { capabilities, exitFromRaw, findCgroup2Mount, shellStatus, signalName, signalNumber } from '../../native/index.js';

function kernelAtLeast(major: number, minor: number): boolean {
  const [maj = 0, min = 0] = os.release().split('.').map((part) => parseInt(part, 10));
  return maj > major || (maj === major && min >= minor);
}

describe('capability probe', () => {
  it('finds each feature this kernel version has, by calling it', () => {
    const { features, spawnMethod } = capabilities();
    const expectations: Array<[keyof typeof features, number, number]> = [
      ['pidfdSendSignal', 5, 1], ['pidfdOpen', 5, 3], ['clone3', 5, 3], ['waitidPidfd', 5, 4],
      ['closeRange', 5, 9], ['soPeerPidfd', 6, 5], ['pidfs', 6, 9], ['pidfdSignalProcessGroup', 6, 9],
      ['pidfdGetInfo', 6, 13], ['pidfdInfoExit', 6, 15],
    ];
    for (const [feature, major, minor] of expectations) {
      // A seccomp filter may hide clone3 on a new kernel; everything else follows the version.
      if (feature === 'clone3') continue;
      expect({ feature, ok: features[feature].ok }).toEqual({ feature, ok: kernelAtLeast(major, minor) });
    }
    expect(spawnMethod).toBe(features.clone3.ok ? 'clone3' : 'clone');
    for (const feature of Object.values(features)) expect(feature.ok ? feature.code : typeof feature.code).toBe(feature.ok ? null : 'string');
  });

  it('caches the probe', () => {
    expect(capabilities()).toBe(capabilities());
  });

  it('finds the cgroup v2 mount in mountinfo, hybrid or unified, with escapes', () => {
    const hybrid = [
      '25 30 0:23 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755',
      '26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate',
      '27 25 0:25 / /sys/fs/cgroup/cpu rw,nosuid shared:11 - cgroup cgroup rw,cpu',
    ].join('\n');
    expect(findCgroup2Mount(hybrid)).toBe('/sys/fs/cgroup/unified');
    expect(findCgroup2Mount('30 1 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw')).toBe('/sys/fs/cgroup');
    expect(findCgroup2Mount('30 1 0:26 / /mnt/my\\040cgroups rw - cgroup2 none rw')).toBe('/mnt/my cgroups');
    expect(findCgroup2Mount('30 1 0:26 / /sys/fs/cgroup rw - cgroup cgroup rw')).toBeNull();
  });
});

describe('exit records and signals', () => {
  it('maps waitid results to one shape', () => {
    expect(exitFromRaw({ siCode: 1, siStatus: 42, source: 'waitid', userCpuMicros: 5, systemCpuMicros: 6, maxRssKiB: 7 })).toEqual({
      code: 42, signal: null, signalNumber: null, coreDumped: false, known: true,
      rusage: { userCpuMicros: 5, systemCpuMicros: 6, maxRssKiB: 7 },
    });
    expect(exitFromRaw({ siCode: 2, siStatus: 15, source: 'pidfd-info' })).toEqual({
      code: null, signal: 'SIGTERM', signalNumber: 15, coreDumped: false, known: true, rusage: null,
    });
    expect(exitFromRaw({ siCode: 3, siStatus: 11, source: 'waitid' })).toMatchObject({ signal: 'SIGSEGV', coreDumped: true });
    expect(exitFromRaw({ siCode: 0, siStatus: 0, source: 'unknown' })).toMatchObject({ known: false, code: null, signal: null });
  });

  it('keeps shell-style codes out of the record and in shellStatus()', () => {
    expect(shellStatus(exitFromRaw({ siCode: 1, siStatus: 0, source: 'waitid' }))).toBe(0);
    expect(shellStatus(exitFromRaw({ siCode: 2, siStatus: 9, source: 'waitid' }))).toBe(137);
    expect(shellStatus(exitFromRaw({ siCode: 0, siStatus: 0, source: 'unknown' }))).toBeNull();
  });

  it('names and numbers signals both ways', () => {
    expect(signalNumber('SIGTERM')).toBe(15);
    expect(signalNumber('TERM' as never)).toBe(15);
    expect(signalNumber(0)).toBe(0);
    expect(signalName(9)).toBe('SIGKILL');
    expect(signalName(6)).toBe('SIGABRT'); // not the SIGIOT alias
    expect(signalName(40)).toMatch(/^SIG/);
    expect(() => signalNumber('SIGNOPE' as never)).toThrow(RangeError);
    expect(() => signalNumber(65)).toThrow(RangeError);
    expect(() => signalNumber(1.5)).toThrow(RangeError);
  });
});
