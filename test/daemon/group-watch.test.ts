// waitGroupEmpty(): several groups waited for at once, each answered on its own, by one scan
// of /proc per tick. Real process groups: each child leads its own session.
import { afterEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason, spawn, type ChildProcess } from '../../native/index.js';
import { waitGroupEmpty } from '../../daemon/group-watch.js';

const unsupported = pidfdUnsupportedReason();
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    try {
      child.signal('SIGKILL', { processGroup: true });
    } catch {
      // already gone
    }
    await child.wait();
  }
});

// A session leader whose group holds it and a second sleep; its pid is the pgid.
function groupOfTwo(): ChildProcess {
  const child = spawn({ command: 'sh', args: ['-c', 'sleep 1000 & exec sleep 1000'], detach: 'session', stdio: ['null', 'null', 'null'] });
  children.push(child);
  return child;
}

describe.skipIf(unsupported !== null)(`waitGroupEmpty${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('answers each group when it empties, and false for one that does not within its timeout', async () => {
    const [a, b, c] = [groupOfTwo(), groupOfTwo(), groupOfTwo()];
    const waits = [waitGroupEmpty(a.pid, 10_000), waitGroupEmpty(b.pid, 300), waitGroupEmpty(c.pid, 10_000), waitGroupEmpty(a.pid, 10_000)];
    a.signal('SIGKILL', { processGroup: true });
    c.signal('SIGKILL', { processGroup: true });
    // b's group stays up: only its waiter times out.
    expect(await Promise.all(waits)).toEqual([true, false, true, true]);
    expect(await waitGroupEmpty(b.pid, 100)).toBe(false);
    b.signal('SIGKILL', { processGroup: true });
    expect(await waitGroupEmpty(b.pid, 10_000)).toBe(true);
  });
});
