// The exit poller (native/src/exit_poller.cc): one epoll set per environment, read in batches,
// reporting each pidfd once, whose uv poll stays started and only keeps the event loop alive
// while something is watched.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { adopt, pidfdUnsupportedReason, spawn, type ChildProcess } from '../../native/index.js';
import { procStat, zombieChildren } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
const nativeIndex = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../dist/native/index.js');

/** Blocks (the event loop does not run) until each child has exited and is an unreaped zombie. */
function blockUntilZombies(children: readonly ChildProcess[], timeoutMs = 5000): void {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (!children.every((child) => procStat(child.pid)[0] === 'Z')) {
    if (Date.now() > deadline) throw new Error(`children did not all exit within ${timeoutMs} ms`);
    Atomics.wait(pause, 0, 0, 1);
  }
}

describe.skipIf(unsupported !== null)(`exit poller${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('delivers every exit of a batch that one wake-up reads', async () => {
    const children = Array.from({ length: 40 }, (_, i) => spawn({ command: 'sh', args: ['-c', `exit ${i}`] }));
    blockUntilZombies(children); // 40 readable pidfds: more than one batch of 32
    const codes = (await Promise.all(children.map((child) => child.wait()))).map((exit) => exit.code);
    expect(codes).toEqual(children.map((_, i) => i));
    expect(zombieChildren()).toEqual([]);
  });

  it('does not deliver an exit of the same batch whose reference a callback closed first', async () => {
    const a = spawn({ command: 'true' });
    const b = spawn({ command: 'true' });
    const instanceA = a.instance;
    const instanceB = b.instance;
    blockUntilZombies([a, b]); // both in the set's ready list: one epoll_wait reads both
    // Whichever exit comes first closes the other reference from its promise callback, which
    // runs before the poller moves on to the next entry of the batch.
    const closer = (other: ChildProcess) => (): void => {
      if (other.exitStatus === undefined) other.close();
    };
    const outcomes = await Promise.allSettled([a.wait().then(closer(b)), b.wait().then(closer(a))]);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['fulfilled', 'rejected']);
    const closed = outcomes[0]!.status === 'rejected' ? { ref: a, instance: instanceA } : { ref: b, instance: instanceB };
    expect(closed.ref.exitStatus).toBeUndefined();
    // The closed one is an unowned zombie now: take it again by its identity and reap it.
    expect((await adopt(closed.ref.pid, closed.instance).wait()).code).toBe(0);
    expect(zombieChildren()).toEqual([]);
  });

  it('never reports a reaped pidfd again, even while another process still holds a copy of it', async () => {
    const a = spawn({ command: 'sleep', args: ['1000'] });
    // b holds a's pidfd as its fd 3: the file, and with it a's entry in the epoll set, outlives
    // our close. Each pidfd is reported once (EPOLLONESHOT), so the entry stays silent.
    const b = spawn({ command: 'sleep', args: ['1000'], extraFds: [a.pidfd] });
    a.signal('SIGKILL');
    expect((await a.wait()).signal).toBe('SIGKILL');
    const cpuBefore = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const cpu = process.cpuUsage(cpuBefore);
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(150); // a re-reported entry would spin
    expect((await spawn({ command: 'sh', args: ['-c', 'exit 6'] }).wait()).code).toBe(6);
    b.signal('SIGKILL');
    expect((await b.wait()).signal).toBe('SIGKILL');
  });

  it('keeps the loop alive again for a child spawned after the set was empty', () => {
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', `import { spawn } from ${JSON.stringify(nativeIndex)};
console.log((await spawn({ command: 'true' }).wait()).code);
setTimeout(() => spawn({ command: 'sh', args: ['-c', 'sleep 0.2; exit 4'] }).wait().then((exit) => console.log(exit.code)), 50);`],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(out).toBe('0\n4\n');
  });
});
