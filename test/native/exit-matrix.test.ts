// How processes end, as the exit record reports it: every exit code, deaths by signal, the
// core flag, and resource usage.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason, shellStatus, spawn } from '../../native/index.js';

const unsupported = pidfdUnsupportedReason();

describe.skipIf(unsupported !== null)(`exit records${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('reports every exit code from 0 to 255', async () => {
    const codes: Array<number | null> = [];
    for (let batch = 0; batch < 256; batch += 32) {
      const children = Array.from({ length: 32 }, (_, i) => spawn({ command: 'sh', args: ['-c', `exit ${batch + i}`] }));
      const exits = await Promise.all(children.map((child) => child.wait()));
      codes.push(...exits.map((exit) => exit.code));
      for (const exit of exits) {
        expect(exit).toMatchObject({ signal: null, signalNumber: null, coreDumped: false, known: true });
      }
    }
    expect(codes).toEqual(Array.from({ length: 256 }, (_, i) => i));
  });

  it.each(['SIGTERM', 'SIGHUP', 'SIGKILL', 'SIGINT', 'SIGUSR1'] as const)('reports death by %s sent through the pidfd', async (signal) => {
    const child = spawn({ command: 'sleep', args: ['1000'] });
    child.signal(signal);
    const exit = await child.wait();
    expect(exit).toMatchObject({ code: null, signal, coreDumped: false, known: true });
    expect(shellStatus(exit)).toBe(128 + exit.signalNumber!);
  });

  it.each(['SEGV', 'ABRT'] as const)('reports SIG%s with the core flag only when a core was dumped', async (signal) => {
    const noCore = spawn({ command: 'sh', args: ['-c', `kill -${signal} $$`], rlimits: { core: 0 } });
    expect(await noCore.wait()).toMatchObject({ code: null, signal: `SIG${signal}`, coreDumped: false });

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-core-'));
    try {
      const pattern = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim();
      const withCore = spawn({ command: 'sh', args: ['-c', `kill -${signal} $$`], rlimits: { core: 'unlimited' }, cwd: dir });
      const exit = await withCore.wait();
      expect(exit.signal).toBe(`SIG${signal}`);
      // A core_pattern of a plain file name dumps into the cwd; a piped handler may decline.
      if (!pattern.startsWith('|')) {
        expect(exit.coreDumped).toBe(true);
        expect(fs.readdirSync(dir).some((name) => name.startsWith('core'))).toBe(true);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports resource usage of the child', async () => {
    const child = spawn({ command: 'sh', args: ['-c', 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'] });
    const exit = await child.wait();
    expect(exit.code).toBe(0);
    expect(exit.rusage).not.toBeNull();
    expect(exit.rusage!.userCpuMicros + exit.rusage!.systemCpuMicros).toBeGreaterThan(10_000);
    expect(exit.rusage!.maxRssKiB).toBeGreaterThan(0);
  });

  it('treats the status of a child that exits 127 by itself as an exit, not a spawn failure', async () => {
    const child = spawn({ command: 'sh', args: ['-c', 'exit 127'] });
    expect((await child.wait()).code).toBe(127);
  });
});
