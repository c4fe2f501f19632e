// The fd table a child starts from: with CLONE_FILES the child copies only the low fds its
// plan names (native/src/fd_layout.h), so the daemon's long-lived fds must sit high and a plan
// naming a high fd must still get it; without close_range (before Linux 5.9) the child
// copies the whole table as before. Either way it ends with exactly its plan.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { capabilities, pidfdUnsupportedReason, spawn, type ChildProcess } from '../../native/index.js';
import { binding } from '../../native/load.js';
import { waitUntilAsleep } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
const noCloseRange = capabilities().features.closeRange.ok ? null : `close_range: ${capabilities().features.closeRange.code} (Linux 5.9)`;
// The fixture's filter is written for x86_64 syscall numbers, and it needs a C compiler.
const noSeccompFixture = process.arch !== 'x64' ? `the seccomp fixture is x86_64 only (this is ${process.arch})` : null;
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
/** kLongLivedFdFloor in native/src/fd_layout.h. */
const FLOOR = 256;
const started: ChildProcess[] = [];

afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitStatus === undefined) child.signal('SIGKILL');
    await child.wait();
  }
});

function childFds(pid: number): Record<string, string> {
  return Object.fromEntries(fs.readdirSync(`/proc/${pid}/fd`).map((fd) => [fd, fs.readlinkSync(`/proc/${pid}/fd/${fd}`)]));
}

describe.skipIf(unsupported !== null)(`the child's fd table${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it.skipIf(noCloseRange !== null)(`is shared at clone and unshared by the child where close_range(CLOSE_RANGE_UNSHARE) works${noCloseRange ? ` (skipped: ${noCloseRange})` : ''}`, () => {
    expect(capabilities().features.cloneFilesUnshare).toEqual({ ok: true, code: null });
  });

  it('keeps pidfds and the daemon ends of pipes above the floor, the child ends below', () => {
    const child = spawn({ command: 'sleep', args: ['1000'], stdio: ['pipe', 'pipe', 'null'] });
    started.push(child);
    expect(child.pidfd).toBeGreaterThanOrEqual(FLOOR);
    const daemonEnds = [child.stdin, child.stdout].map((socket) => (socket as unknown as { _handle: { fd: number } })._handle.fd);
    for (const fd of daemonEnds) expect(fd).toBeGreaterThanOrEqual(FLOOR);
    const [readEnd, writeEnd] = binding.makePipe(0);
    try {
      expect(readEnd).toBeGreaterThanOrEqual(FLOOR); // the non-blocking (daemon's) end
      expect(writeEnd).toBeLessThan(FLOOR);
    } finally {
      fs.closeSync(readEnd);
      fs.closeSync(writeEnd);
    }
  });

  it('gives the child an fd its plan names even when it sits far above the rest', () => {
    const held = Array.from({ length: FLOOR + 50 }, () => fs.openSync('/dev/zero', 'r'));
    const high = fs.openSync(os.tmpdir(), 'r');
    try {
      expect(high).toBeGreaterThan(FLOOR + 50);
      const child = spawn({ command: 'sleep', args: ['1000'], stdio: ['null', { fd: high }, 'null'], extraFds: [high] });
      started.push(child);
      waitUntilAsleep(child.pid);
      expect(childFds(child.pid)).toEqual({ '0': '/dev/null', '1': os.tmpdir(), '2': '/dev/null', '3': os.tmpdir() });
    } finally {
      for (const fd of [...held, high]) fs.closeSync(fd);
    }
  });

  describe.skipIf(noSeccompFixture !== null || noCloseRange !== null)(`where seccomp answers ENOSYS, as on older kernels${noSeccompFixture ?? noCloseRange ? ` (skipped: ${noSeccompFixture ?? noCloseRange})` : ''}`, () => {
    // What this machine uses when nothing is blocked: clone3, or clone where it is blocked already.
    const method = capabilities().spawnMethod;
    let dir: string;
    let seccomp: string;
    let extraFile: string;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-fdtable-'));
      extraFile = path.join(dir, 'extra');
      fs.writeFileSync(extraFile, 'fd 3');
      seccomp = path.join(dir, 'seccomp-enosys');
      execFileSync('cc', ['-O2', '-Wall', '-Werror', '-o', seccomp, path.join(fixtures, 'seccomp-enosys.c')]);
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    const report = (denied: string) =>
      JSON.parse(execFileSync(seccomp, [denied, process.execPath, path.join(fixtures, 'fd-plan-report.mjs'), extraFile], { encoding: 'utf8', timeout: 20_000 }));
    const plan = () => ({ '0': '/dev/null', '1': '/dev/null', '2': '/dev/null', '3': extraFile });

    it('without close_range (before 5.9) the child copies the whole table and still ends with its plan', () => {
      const result = report('436');
      expect(result).toMatchObject({ fds: plan(), cloneFilesUnshare: false, spawnMethod: method });
    });

    it('without clone3 and close_range the legacy clone path ends with its plan', () => {
      const result = report('435,436');
      expect(result).toMatchObject({ fds: plan(), cloneFilesUnshare: false, spawnMethod: 'clone' });
    });

    it('where close_range claims success without running (seccomp RET_ERRNO 0), the table is not shared', () => {
      // Had the probe trusted the 0, every child would close the daemon's own fds.
      const result = report('436=0');
      expect(result).toMatchObject({ fds: plan(), cloneFilesUnshare: false, spawnMethod: method });
    });

    it('with clone3 blocked but close_range there, the legacy clone path shares and unshares the table', () => {
      const result = report('435');
      expect(result).toMatchObject({ fds: plan(), cloneFilesUnshare: true, spawnMethod: 'clone' });
      expect(result.pidfd).toBeGreaterThanOrEqual(FLOOR);
    });
  });
});
