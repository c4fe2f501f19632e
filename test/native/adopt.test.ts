// Adopting processes we did not spawn: identity checks, and exit status for a non-child.
import { spawn as spawnWithLibuv } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { adopt, capabilities, openProcess, OrphanReaper, pidfdUnsupportedReason, ProcessIdentityError, spawn, SystemError } from '../../native/index.js';
import { procStat } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();

describe.skipIf(unsupported !== null)(`adopt${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('adopts a live process by pid and instance, and refuses a wrong instance', async () => {
    const child = spawn({ command: 'sleep', args: ['1000'] });
    const probe = openProcess(child.pid);
    expect(probe.instance).toBe(child.instance);
    probe.close();
    expect(() => adopt(child.pid, `${child.pid}.0`)).toThrow(ProcessIdentityError);
    const adopted = adopt(child.pid, child.instance, { watch: false });
    adopted.signal('SIGTERM');
    adopted.close();
    expect((await child.wait()).signal).toBe('SIGTERM');
    expect(() => adopt(child.pid, child.instance)).toThrow(SystemError); // ESRCH: gone
  });

  it("learns how a process it is not the parent of ended, after its parent reaps it", async () => {
    // libuv is this child's parent and reaps it; we only hold a pidfd.
    const foreign = spawnWithLibuv('sleep', ['1000'], { stdio: 'ignore' });
    const exited = once(foreign, 'exit');
    const adopted = adopt(foreign.pid!, openProcess(foreign.pid!).instance);
    adopted.signal('SIGTERM');
    const [code, signal] = await exited; // libuv still gets its own child's exit
    expect([code, signal]).toEqual([null, 'SIGTERM']);
    const exit = await adopted.wait();
    expect(exit.rusage).toBeNull(); // only the parent gets rusage
    if (capabilities().features.pidfdInfoExit.ok) {
      expect(exit).toMatchObject({ known: true, signal: 'SIGTERM', code: null });
    } else {
      expect(exit.known).toBe(false);
    }
  });

  it('opening our own child again neither reaps it nor lifts its protection from the orphan reaper', async () => {
    const child = spawn({ command: 'sh', args: ['-c', 'exit 9'] });
    openProcess(child.pid).close();
    expect(() => adopt(child.pid, `${child.pid}.0`)).toThrow(ProcessIdentityError); // closes its handle too
    const second = openProcess(child.pid, { watch: true });
    // Stay off the event loop until the child is a zombie, then sweep: it must not be taken.
    const deadline = Date.now() + 5000;
    while (procStat(child.pid)[0] !== 'Z' && Date.now() < deadline);
    expect(new OrphanReaper().sweep()).toBe(0);
    const exit = await child.wait();
    expect(exit.code).toBe(9);
    expect(exit.rusage).not.toBeNull(); // reaped by its own handle, not by someone else
    expect((await second.wait()).code).toBe(9); // the second handle learns it as a non-parent
  });

  it('refuses pids that are not processes', () => {
    expect(() => openProcess(0)).toThrow(RangeError);
    expect(() => openProcess(-1)).toThrow(RangeError);
    expect(() => openProcess(2 ** 22 + 1)).toThrow(SystemError);
  });
});
