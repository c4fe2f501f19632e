// pidvisor on worker threads: the orphan reaper and the children of workers, and a worker torn
// down in the middle of its spawns.
//
// waitid(P_ALL) on the main thread sees
// the children of every thread, while each thread's ProcessRefs live in its own Node
// environment: the record of owned children is process-wide (native/src/owned_children.h),
// so a reaper on the main thread leaves a worker's child to the worker. The control is the
// worker's other child, which it let go: the same sweep reaps that one, so the sweep does reach
// the worker's children.
//
// A child that fails to exec exits at once, before its spawn has reaped it: every clone has the
// kernel publish its child's pid in a claim before the child runs, and the claim lasts until
// the child is recorded or reaped (owned_children.h). Without that, a reaper sweeping while a
// worker spawned took some of those children (and crashed on the ECHILD of others) within
// 3,000 spawns.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { openProcess, OrphanReaper, pidfdUnsupportedReason, type ProcessExit, type ReapedOrphan } from '../../native/index.js';
import { pollUntil, procStat, zombieChildren } from '../helpers/proc.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const unsupported = pidfdUnsupportedReason();

/** Resolves after `turns` iterations of the event loop, each with its poll phase. */
async function loopTurns(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

function isZombie(pid: number): boolean {
  try {
    return procStat(pid)[0] === 'Z';
  } catch {
    return false;
  }
}

describe.skipIf(unsupported !== null)(`pidvisor on worker threads${unsupported === null ? '' : ` (skipped: ${unsupported})`}`, () => {
  it("leaves a worker's own child to the worker, and reaps the one it let go", async () => {
    const gate = new SharedArrayBuffer(4);
    const worker = new Worker(path.join(fixtures, 'worker-children.mjs'), { workerData: { gate } });
    const messages: Array<{ released?: number; kept?: number; exit?: ProcessExit }> = [];
    worker.on('message', (message) => messages.push(message));
    const errors: Error[] = [];
    worker.on('error', (error) => errors.push(error));
    try {
      await pollUntil(() => messages.length > 0 || errors.length > 0, 10_000);
      expect(errors).toEqual([]);
      const { released, kept } = messages[0] as { released: number; kept: number };
      // Both have exited; the worker is blocked and cannot reap the one it keeps.
      await pollUntil(() => isZombie(released) && isZombie(kept), 10_000);

      const reaped: ReapedOrphan[] = [];
      const reaper = new OrphanReaper({ onReap: (orphan) => reaped.push(orphan) });
      reaper.sweep();
      reaper.sweep();
      expect(reaped.map((orphan) => orphan.pid)).toEqual([released]);
      expect(isZombie(kept)).toBe(true);

      Atomics.store(new Int32Array(gate), 0, 1);
      Atomics.notify(new Int32Array(gate), 0);
      await pollUntil(() => messages.length > 1 || errors.length > 0, 10_000);
      expect(errors).toEqual([]);
      const { exit } = messages[1] as { exit: ProcessExit };
      // Reaped by the worker's own waitid: the status and the rusage only the reaper gets.
      expect(exit).toMatchObject({ code: 7, signal: null, known: true });
      expect(exit.rusage).not.toBeNull();
      expect(zombieChildren()).toEqual([]);
    } finally {
      Atomics.store(new Int32Array(gate), 0, 1);
      Atomics.notify(new Int32Array(gate), 0);
      await worker.terminate();
    }
  });

  it("takes none of the children a worker's failed spawns leave for an instant, sweeping all the while", async () => {
    const worker = new Worker(path.join(fixtures, 'worker-failed-spawns.mjs'), { workerData: { count: 3000, maxMs: 20_000 } });
    let report: { spawns: number; codes: Record<string, number> } | undefined;
    let failure: Error | undefined;
    worker.once('message', (message) => (report = message));
    worker.once('error', (error) => (failure = error));
    const reaped: ReapedOrphan[] = [];
    const reaper = new OrphanReaper({ onReap: (orphan) => reaped.push(orphan) });
    try {
      const deadline = Date.now() + 30_000;
      while (report === undefined && failure === undefined && Date.now() < deadline) {
        reaper.sweep();
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(failure).toBeUndefined();
      expect(report?.spawns).toBeGreaterThan(0);
      expect(report?.codes).toEqual({ ENOENT: report?.spawns });
      expect(reaped.map((orphan) => orphan.pid)).toEqual([]);
      expect(zombieChildren()).toEqual([]);
    } finally {
      await worker.terminate();
    }
  }, 60_000);

  // The capability probe clones children of its own (PIDFD_INFO_EXIT can only be read from a
  // reaped child): they made no claim, and a sweep here reaped thousands of a
  // worker's. That was also why the test above failed about 1 run in 15: its worker probes once.
  it("takes none of the children a worker's capability probes make, sweeping all the while", async () => {
    const worker = new Worker(path.join(fixtures, 'worker-probes.mjs'), { workerData: { count: 2000, maxMs: 8000 } });
    let report: { probes: number } | undefined;
    let failure: Error | undefined;
    worker.once('message', (message) => (report = message));
    worker.once('error', (error) => (failure = error));
    const reaped: ReapedOrphan[] = [];
    const reaper = new OrphanReaper({ onReap: (orphan) => reaped.push(orphan) });
    try {
      const deadline = Date.now() + 30_000;
      while (report === undefined && failure === undefined && Date.now() < deadline) {
        reaper.sweep();
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(failure).toBeUndefined();
      expect(report?.probes).toBeGreaterThan(0);
      expect(reaped.map((orphan) => orphan.pid)).toEqual([]);
      expect(zombieChildren()).toEqual([]);
    } finally {
      await worker.terminate();
    }
  }, 60_000);

  // openProcess() on the main thread looked only at its own environment's handles to decide
  // whether it may reap: it reaped the worker's child, whose exit then had no rusage.
  it("an openProcess watch on the main thread leaves a worker's child to the worker, and still learns the exit", async () => {
    const gate = new SharedArrayBuffer(4);
    const release = (): void => {
      Atomics.store(new Int32Array(gate), 0, 1);
      Atomics.notify(new Int32Array(gate), 0);
    };
    const worker = new Worker(path.join(fixtures, 'worker-child-held.mjs'), { workerData: { gate } });
    const messages: Array<{ pid?: number; exit?: ProcessExit }> = [];
    worker.on('message', (message) => messages.push(message));
    const errors: Error[] = [];
    worker.on('error', (error) => errors.push(error));
    try {
      await pollUntil(() => messages.length > 0 || errors.length > 0, 10_000);
      expect(errors).toEqual([]);
      const { pid } = messages[0] as { pid: number };
      const opened = openProcess(pid, { watch: true });
      let openedExit: ProcessExit | undefined;
      void opened.wait().then((exit) => (openedExit = exit));
      // The worker's event loop is blocked: only the main thread's watch can act on the zombie.
      // Once it is one, a few loop turns (each with its poll phase) give the watch every chance.
      await pollUntil(() => isZombie(pid) || openedExit !== undefined, 10_000);
      await loopTurns(3);
      expect(isZombie(pid)).toBe(true);
      release();
      await pollUntil(() => messages.length > 1 || errors.length > 0, 10_000);
      expect(errors).toEqual([]);
      const { exit } = messages[1] as { exit: ProcessExit };
      expect(exit).toMatchObject({ code: 7, known: true });
      expect(exit.rusage).not.toBeNull();
      // The main thread learns the exit as a non-parent does, once the worker has reaped it.
      await pollUntil(() => openedExit !== undefined, 10_000);
      expect(openedExit).toMatchObject({ code: 7, rusage: null });
      expect(zombieChildren()).toEqual([]);
    } finally {
      release();
      await worker.terminate();
    }
  });

  // The pipe ends the addon makes were closed with fs.closeSync, which in a worker warns for
  // every fd fs did not open itself.
  it('spawns with pipes in a worker without a warning', async () => {
    const worker = new Worker(path.join(fixtures, 'worker-pipe-spawn.mjs'));
    try {
      const report = await new Promise<{ echoed: string; warnings: string[] }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(report).toEqual({ echoed: 'through the pipes\n', warnings: [] });
    } finally {
      await worker.terminate();
    }
  });

  // A failed spawn throws its error into JS; while a worker's environment is torn down that
  // throw fails, and node-addon-api then threw a C++ exception out of the callback: std::terminate,
  // and the whole process aborted (exit 134), even for worker.terminate().
  it.each([
    ['process.exit(3) on the main thread', 'exit', 3],
    ['worker.terminate(), then exit 0', 'terminate', 0],
  ])('a worker whose spawns fail while it is torn down does not abort the process: %s', (_name, mode, code) => {
    const result = spawnSync(process.execPath, [path.join(fixtures, 'exit-while-worker-spawns.mjs'), mode as string], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.stderr).not.toContain('terminate called');
    expect({ status: result.status, signal: result.signal }).toEqual({ status: code, signal: null });
  });
});
