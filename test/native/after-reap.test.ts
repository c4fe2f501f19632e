// The contract after a process has been reaped (Rust's and Go's pidfd tests check the same):
// no signal reaches any process, the exit is remembered, close is idempotent, and native
// resources die with the Node environment that made them.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import { OrphanReaper, pidfdUnsupportedReason, ProcessExitedError, spawn } from '../../native/index.js';
import { openFds, pollUntil, zombieChildren } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const nativeIndex = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../dist/native/index.js');

describe.skipIf(unsupported !== null)(`after the reap${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  // The layer opens /dev/null once, on first use, and keeps it: take that out of fd counts.
  beforeAll(() => spawn({ command: 'true' }).wait());

  it('refuses signals, remembers the exit, closes the pidfd and leaves no zombie', async () => {
    const child = spawn({ command: 'sh', args: ['-c', 'exit 3'] });
    const pidfd = child.pidfd;
    expect(fs.readlinkSync(`/proc/self/fd/${pidfd}`)).toMatch(/pidfd/);
    const exit = await child.wait();
    expect(exit.code).toBe(3);
    expect(child.exitStatus).toBe(exit);
    expect(await child.wait()).toBe(exit); // a second wait answers the same record
    expect(child.pidfd).toBe(-1);
    expect(() => child.signal('SIGTERM')).toThrow(ProcessExitedError);
    expect(() => child.signal(0)).toThrow(ProcessExitedError);
    child.close();
    child.close(); // idempotent
    expect(zombieChildren()).toEqual([]);
    // The pidfd's number is free again, or names something else, never the old pidfd.
    const target = fs.existsSync(`/proc/self/fd/${pidfd}`) ? fs.readlinkSync(`/proc/self/fd/${pidfd}`) : 'closed';
    expect(target).not.toBe('anon_inode:[pidfd]');
  });

  it('lets a zombie be signalled harmlessly until the reap (the pid is still ours)', async () => {
    const child = spawn({ command: 'sleep', args: ['1000'] });
    child.signal('SIGKILL');
    child.signal(0); // dead but unreaped: the pidfd still pins the pid, nothing else can hold it
    expect((await child.wait()).signal).toBe('SIGKILL');
  });

  it('closing a live child stops watching it and releases the pidfd', async () => {
    const fdsBefore = openFds();
    const child = spawn({ command: 'sleep', args: ['1000'] });
    const pid = child.pid;
    child.signal('SIGKILL');
    child.close();
    expect(() => child.signal('SIGKILL')).toThrow(ProcessExitedError);
    expect(openFds()).toEqual(fdsBefore);
    // Nobody waits for it now: the orphan reaper may take it, and does.
    const reaper = new OrphanReaper();
    await pollUntil(() => reaper.sweep() > 0 || !fs.existsSync(`/proc/${pid}`), 5000);
    expect(zombieChildren()).toEqual([]);
  });

  it('closes pidfds and the exit poller when a worker thread that holds them exits', async () => {
    const fdsBefore = openFds();
    const worker = new Worker(path.join(fixtures, 'env-cleanup-worker.mjs'));
    const report = await new Promise<{ pid: number; pidfd: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(fs.readlinkSync(`/proc/self/fd/${report.pidfd}`)).toMatch(/pidfd/);
    await worker.terminate();
    // The worker's environment is gone; its pidfd must be too (same process, shared fd table).
    const pidfdTarget = fs.existsSync(`/proc/self/fd/${report.pidfd}`) ? fs.readlinkSync(`/proc/self/fd/${report.pidfd}`) : 'closed';
    expect(pidfdTarget).not.toMatch(/pidfd/);
    // The child still runs; it is ours (this process is its parent), so end it and reap it.
    // Its pid cannot have been reused: it is an unreaped child of this process.
    process.kill(report.pid, 'SIGKILL');
    const reaper = new OrphanReaper();
    await pollUntil(() => reaper.sweep() > 0, 5000);
    expect(zombieChildren()).toEqual([]);
    const leftovers = openFds().filter((fd) => !fdsBefore.includes(fd)).map((fd) => fs.readlinkSync(`/proc/self/fd/${fd}`));
    expect(leftovers).not.toContain('anon_inode:[pidfd]');
    expect(leftovers).not.toContain('anon_inode:[eventpoll]'); // the worker's exit poller
  });

  it('keeps the event loop alive while a watched child runs, and only then', () => {
    const run = (body: string): string =>
      execFileSync(process.execPath, ['--input-type=module', '-e', `import { spawn } from ${JSON.stringify(nativeIndex)};\n${body}`], {
        encoding: 'utf8',
        timeout: 20_000,
      });
    // Nothing awaits anything in JS: only the watch can keep Node running until the exit.
    expect(run("spawn({ command: 'sh', args: ['-c', 'sleep 0.2; exit 5'] }).wait().then((exit) => console.log(exit.code));")).toBe('5\n');
    // Closed before it exits: nothing is watched, Node ends, and the child dies with it.
    expect(run("spawn({ command: 'sleep', args: ['1000'], parentDeathSignal: 'SIGKILL' }).close(); console.log('done');")).toBe('done\n');
  });

  it('still delivers exits when a second copy of the module takes over the exit handler', () => {
    // A second evaluation of process-ref.js (another URL for the same file) installs its own
    // handler in this environment; the first copy's child must still see its exit.
    const secondCopy = JSON.stringify(`${path.join(path.dirname(nativeIndex), 'process-ref.js')}?second-copy`);
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', `import { spawn } from ${JSON.stringify(nativeIndex)};
const child = spawn({ command: 'sh', args: ['-c', 'sleep 0.2; exit 9'] });
await import(${secondCopy});
console.log((await child.wait()).code);`],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(out).toBe('9\n');
  });
});
