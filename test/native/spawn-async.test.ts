// spawnAsync(): spawn() with the clone on a thread of the addon. Real children: what spawn()
// guarantees still holds (watched, pipes, typed errors, nothing left behind), and the event
// loop runs while clones are held. A clone is held for real by a frozen cgroup v2: a child
// cloned into it (CLONE_INTO_CGROUP) freezes before its first instruction, so its CLONE_VFORK
// parent thread stays suspended until the cgroup is thawed.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { capabilities, ChildProcess, pidfdUnsupportedReason, spawn, spawnAsync, SpawnError } from '../../native/index.js';
import { isRoot, openFds, pollUntil, zombieChildren } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
const cgroupMount = capabilities().cgroup2Mount;
const nativeIndex = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../dist/native/index.js');
const started: ChildProcess[] = [];
const cgroups: string[] = [];
const thawers: ChildProcess[] = [];

afterEach(async () => {
  for (const thawer of thawers.splice(0)) {
    if (thawer.exitStatus === undefined) thawer.signal('SIGKILL', { processGroup: true }); // its sleep too
    await thawer.wait();
  }
  for (const child of started.splice(0)) {
    if (child.exitStatus === undefined) child.signal('SIGKILL');
    await child.wait();
  }
  for (const dir of cgroups.splice(0)) {
    fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '0');
    fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1');
    await pollUntil(() => processesIn(dir).length === 0, 10_000);
    fs.rmdirSync(dir);
  }
});

function processesIn(dir: string): number[] {
  return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
}

/** A frozen cgroup, thawed and removed after the test. */
function frozenCgroup(name: string): string {
  const dir = path.join(cgroupMount!, `pidvisor-test-${process.pid}-${name}`);
  fs.mkdirSync(dir);
  cgroups.push(dir);
  fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '1');
  return dir;
}

/**
 * Thaws `dir` from another process after `seconds`, so that a clone held on the JS thread (the
 * behaviour these tests rule out) fails the test instead of hanging it. Killed by the test.
 */
function thawLater(dir: string, seconds: number): ChildProcess {
  const thawer = spawn({
    command: 'sh',
    args: ['-c', `sleep ${seconds}; echo 0 > ${path.join(dir, 'cgroup.freeze')}`],
    detach: 'session',
    stdio: ['null', 'null', 'null'],
  });
  thawers.push(thawer);
  return thawer;
}

function track(child: ChildProcess): ChildProcess {
  started.push(child);
  return child;
}

describe.skipIf(unsupported !== null)(`spawnAsync${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('starts a watched child whose output comes through its pipes', async () => {
    const child = track(await spawnAsync({ command: 'sh', args: ['-c', 'echo out; echo err >&2; exit 3'], stdio: ['null', 'pipe', 'pipe'] }));
    expect(child).toBeInstanceOf(ChildProcess);
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    expect((await child.wait()).code).toBe(3);
    await pollUntil(() => out === 'out\n' && err === 'err\n');
  });

  it('rejects with the SpawnError spawn() throws, leaving no process, zombie or fd', async () => {
    // What the first spawn opens for good (/dev/null, the wake-up handle) is not a leak.
    await (await spawnAsync({ command: 'true' })).wait();
    const before = openFds();
    const missing = await spawnAsync({ command: '/nonexistent/program', stdio: ['null', 'pipe', 'pipe'] }).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(SpawnError);
    expect(missing).toMatchObject({ code: 'ENOENT', stage: 'execve' });
    const invalid = await spawnAsync({ command: 'true', umask: 0o1000 }).catch((error: unknown) => error);
    expect(invalid).toMatchObject({ code: 'EINVAL', stage: 'options' });
    // The signal follows the thread that clones, which is not the caller's.
    const deathSignal = await spawnAsync({ command: 'true', parentDeathSignal: 'SIGKILL' }).catch((error: unknown) => error);
    expect(deathSignal).toMatchObject({ code: 'EINVAL', stage: 'options' });
    for (let i = 0; i < 20; i++) {
      const child = await spawnAsync({ command: 'true', stdio: ['pipe', 'pipe', 'pipe'] });
      expect((await child.wait()).code).toBe(0);
      for (const end of [child.stdin, child.stdout, child.stderr]) end!.destroy(); // the daemon's ends are the caller's
    }
    await pollUntil(() => openFds().length === before.length);
    expect(openFds()).toEqual(before);
    expect(zombieChildren()).toEqual([]);
  });

  it.skipIf(cgroupMount === null || !isRoot())('runs the event loop while clones are held before exec (needs root and cgroup2)', async () => {
    const dir = frozenCgroup('held');
    thawLater(dir, 60);
    const settled: boolean[] = Array.from({ length: 20 }, () => false);
    const spawns = settled.map((_, i) =>
      spawnAsync({ command: 'true', cgroup: dir }).then(track).finally(() => {
        settled[i] = true;
      }),
    );
    // pollUntil itself runs on timers. Two children held before exec at once: the clones run
    // on other threads than this one, which a held clone would suspend.
    await pollUntil(() => processesIn(dir).length >= 2, 30_000);
    const turned = await new Promise<boolean[]>((resolve) => setImmediate(() => resolve([...settled])));
    expect(turned.filter(Boolean)).toEqual([]); // a turn of the loop came while every clone was held
    fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '0');
    const children = await Promise.all(spawns);
    for (const child of children) expect((await child.wait()).code).toBe(0);
  }, 120_000);

  it.skipIf(cgroupMount === null || !isRoot())('kills and reaps a child whose clone ends after its worker has gone (needs root and cgroup2)', async () => {
    const dir = frozenCgroup('orphaned');
    thawLater(dir, 60);
    const code = `
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(nativeIndex)}).then(({ spawnAsync }) => {
        // The process's own stdio: a worker's fs fds (its /dev/null) are closed when it ends,
        // and a child that cannot take them fails before exec instead of running on.
        spawnAsync({ command: 'sleep', args: ['1000'], cgroup: ${JSON.stringify(dir)}, stdio: ['inherit', 'inherit', 'inherit'] });
        parentPort.postMessage('queued');
      });`;
    const worker = new Worker(code, { eval: true });
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await pollUntil(() => processesIn(dir).length === 1, 30_000);
    await worker.terminate();
    // The clone ends now, for an environment that is gone: its child must not live on.
    fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '0');
    await pollUntil(() => processesIn(dir).length === 0, 10_000);
    await pollUntil(() => zombieChildren().length === 0, 10_000);
  }, 120_000);
});
