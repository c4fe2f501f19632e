// The journal names a new instance's captured stdout and stderr by their pipes' inodes, so
// that a daemon taking over opens the same pipes again (output-reopen.ts). For a child this
// daemon spawned the name comes from an fstat of the daemon's own read end; it must be the
// pipe the child really has as fd 1 or 2, as /proc shows it.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openProcess, pidfdUnsupportedReason, spawn } from '../../native/index.js';
import { outputPipeOf, spawnedOutputPipe } from '../../daemon/output-reopen.js';

const unsupported = pidfdUnsupportedReason();

describe.skipIf(unsupported !== null)(`the output pipes a journal records${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it("names the pipes the child has as fd 1 and 2, from the daemon's read ends and through /proc alike", async () => {
    const child = spawn({ command: 'sleep', args: ['30'], stdio: ['null', 'pipe', 'pipe'] });
    const held = openProcess(child.pid);
    try {
      const stdout = fs.readlinkSync(`/proc/${child.pid}/fd/1`);
      const stderr = fs.readlinkSync(`/proc/${child.pid}/fd/2`);
      expect(stdout).toMatch(/^pipe:\[\d+\]$/);
      expect(stderr).not.toBe(stdout);
      expect(spawnedOutputPipe(child, 'stdout')).toBe(stdout);
      expect(spawnedOutputPipe(child, 'stderr')).toBe(stderr);
      // Not a child of ours (a reference opened by pid): through /proc.
      expect(spawnedOutputPipe(held, 'stdout')).toBe(stdout);
      // Our read end closed: through /proc too, never an fd number that may name another file now.
      child.stdout!.destroy();
      expect(spawnedOutputPipe(child, 'stdout')).toBe(stdout);
      expect(outputPipeOf(child, 'stdout')).toBe(stdout);
    } finally {
      child.signal('SIGKILL');
      await child.wait();
      held.close();
    }
  });

  it('names nothing for a stream that is not a pipe', async () => {
    const child = spawn({ command: 'sleep', args: ['30'], stdio: ['null', 'null', 'pipe'] });
    try {
      expect(spawnedOutputPipe(child, 'stdout')).toBeNull();
      expect(spawnedOutputPipe(child, 'stderr')).toBe(fs.readlinkSync(`/proc/${child.pid}/fd/2`));
    } finally {
      child.signal('SIGKILL');
      await child.wait();
    }
  });
});
