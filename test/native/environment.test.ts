// The environment a child gets when the caller gives none: process.env as the spawning thread
// sees it, as child_process does. The pre-exec child used to read the C `environ` instead: a
// worker's own process.env (a copy) never reached its children, and while the main thread
// changed the process environment (setenv reallocates and frees that array) a worker's spawns
// failed with execve EFAULT (6,381 of 7,084 in the audit of issue 9), or handed a child freed
// memory as its environment.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason, PreparedEnvironment, spawn } from '../../native/index.js';
import { pollUntil } from '../helpers/proc.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const unsupported = pidfdUnsupportedReason();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-env-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** What `sh` printed of $PIDVISOR_TEST_VAR ("unset" when it has none). */
async function seenByChild(env?: PreparedEnvironment): Promise<string> {
  const file = path.join(dir, 'seen');
  const fd = fs.openSync(file, 'w');
  try {
    await spawn({ command: '/bin/sh', args: ['-c', 'printf %s "${PIDVISOR_TEST_VAR-unset}"'], stdio: ['null', { fd }, 'inherit'], ...(env === undefined ? {} : { env }) }).wait();
  } finally {
    fs.closeSync(fd);
  }
  return fs.readFileSync(file, 'utf8');
}

describe.skipIf(unsupported !== null)(`the inherited environment${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('is process.env as it is at the spawn', async () => {
    process.env.PIDVISOR_TEST_VAR = 'first';
    try {
      expect(await seenByChild()).toBe('first');
      process.env.PIDVISOR_TEST_VAR = 'second';
      expect(await seenByChild()).toBe('second');
    } finally {
      delete process.env.PIDVISOR_TEST_VAR;
    }
    expect(await seenByChild()).toBe('unset');
  });

  // The daemon's services get the daemon's environment prepared once (supervisor.ts): the
  // child must get exactly what was prepared, not process.env as it is at the spawn.
  it('is a PreparedEnvironment as it was when prepared, when the caller gives one', async () => {
    process.env.PIDVISOR_TEST_VAR = 'prepared';
    let prepared: PreparedEnvironment;
    try {
      prepared = PreparedEnvironment.ofProcess();
      process.env.PIDVISOR_TEST_VAR = 'changed since';
      expect(await seenByChild(prepared)).toBe('prepared');
    } finally {
      delete process.env.PIDVISOR_TEST_VAR;
    }
    expect(await seenByChild(prepared)).toBe('prepared');
    expect(await seenByChild(PreparedEnvironment.of({ PIDVISOR_TEST_VAR: 'given' }))).toBe('given');
    expect(await seenByChild(PreparedEnvironment.of({}))).toBe('unset');
  });

  it("searches a bare command on a PreparedEnvironment's PATH, and refuses names a C environment cannot hold", async () => {
    const bin = fs.mkdtempSync(path.join(dir, 'bin-'));
    fs.writeFileSync(path.join(bin, 'pidvisor-env-probe'), '#!/bin/sh\nexit 7\n', { mode: 0o755 });
    const child = spawn({ command: 'pidvisor-env-probe', env: PreparedEnvironment.of({ PATH: bin }) });
    expect((await child.wait()).code).toBe(7);
    expect(() => PreparedEnvironment.of({ 'A=B': 'x' })).toThrow(TypeError);
    expect(() => PreparedEnvironment.of({ '': 'x' })).toThrow(TypeError);
    expect(() => PreparedEnvironment.of({ A: 'x\0y' })).toThrow(TypeError);
  });

  it('finds each bare name on a PreparedEnvironment\'s PATH in order, many names over', async () => {
    // Two directories with a program of the same name (the first on PATH wins) and one only in
    // the second; then more missing names than a PreparedEnvironment keeps search lists for.
    const first = fs.mkdtempSync(path.join(dir, 'first-'));
    const second = fs.mkdtempSync(path.join(dir, 'second-'));
    fs.writeFileSync(path.join(first, 'pidvisor-both'), '#!/bin/sh\nexit 3\n', { mode: 0o755 });
    fs.writeFileSync(path.join(second, 'pidvisor-both'), '#!/bin/sh\nexit 4\n', { mode: 0o755 });
    fs.writeFileSync(path.join(second, 'pidvisor-second'), '#!/bin/sh\nexit 5\n', { mode: 0o755 });
    const env = PreparedEnvironment.of({ PATH: `${first}:${second}` });
    const codeOf = async (command: string): Promise<number | null> => (await spawn({ command, env }).wait()).code;
    for (let round = 0; round < 2; round++) {
      expect(await codeOf('pidvisor-both')).toBe(3);
      expect(await codeOf('pidvisor-second')).toBe(5);
      for (let i = 0; i < 70; i++) expect(() => spawn({ command: `pidvisor-missing-${i}`, env })).toThrow(/ENOENT/);
    }
  });

  it("is a worker's own process.env in its children, and stays whole while the main thread changes the process's", async () => {
    const flags = new Int32Array(new SharedArrayBuffer(8));
    const worker = new Worker(path.join(fixtures, 'worker-env-spawns.mjs'), {
      workerData: { file: path.join(dir, 'worker-seen'), flags: flags.buffer, count: 400, maxMs: 8000 },
    });
    const messages: Array<{ seen?: string; spawns?: number; codes?: Record<string, number> }> = [];
    const errors: Error[] = [];
    worker.on('message', (message) => messages.push(message));
    worker.on('error', (error) => errors.push(error));
    const churned = Array.from({ length: 64 }, (_, i) => `PIDVISOR_CHURN_${i}`);
    try {
      await pollUntil(() => messages.length > 0 || errors.length > 0, 10_000);
      expect(errors).toEqual([]);
      expect(messages[0]).toEqual({ seen: 'set in the worker' });
      expect(process.env.PIDVISOR_WORKER_ONLY).toBeUndefined();

      // Churn the process environment (new names reallocate the array, deletions shift it)
      // until the worker has done its spawns. Bounded in time: the worker stops after maxMs.
      Atomics.store(flags, 0, 1);
      Atomics.notify(flags, 0);
      const deadline = Date.now() + 20_000;
      for (let i = 0; Atomics.load(flags, 1) === 0 && Date.now() < deadline; i++) {
        process.env[churned[i % 64]!] = 'x'.repeat(i % 256);
        delete process.env[churned[(i + 32) % 64]!];
      }
      await pollUntil(() => messages.length > 1 || errors.length > 0, 10_000);
      expect(errors).toEqual([]);
      const { spawns, codes } = messages[1]!;
      expect(spawns).toBeGreaterThan(0);
      expect(codes).toEqual({ started: spawns });
    } finally {
      for (const name of churned) delete process.env[name];
      Atomics.store(flags, 0, 1);
      Atomics.notify(flags, 0);
      await worker.terminate();
    }
  }, 60_000);
});
