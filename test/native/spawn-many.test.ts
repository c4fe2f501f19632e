// spawnMany(): each entry as spawn() would start it, the clones in parallel. Real children,
// read back through /proc: order and identity, failures in their own slots with nothing
// left behind, watched children, cgroups, and parent-death signals that follow the thread
// that asked for them.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  capabilities,
  ChildProcess,
  OrphanReaper,
  pidfdUnsupportedReason,
  spawn,
  spawnMany,
  SpawnError,
  type SpawnOptions,
} from '../../native/index.js';
import type { RawClonedChild } from '../../native/binding.js';
import { binding } from '../../native/load.js';
import { OP_CLONED, RAW_KILL_AND_REAP } from '../../native/raw-keys.js';
import { buildRequest, spawnArgs } from '../../native/spawn.js';
import { echoThroughPipes, isRoot, openFds, pollUntil, procStat, procStatus, waitUntilAsleep, zombieChildren } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
const nativeIndex = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../dist/native/index.js');
const distNative = path.dirname(nativeIndex);
const started: ChildProcess[] = [];

/** The children among `results`, remembered so afterEach kills and reaps them. */
function children(results: Array<ChildProcess | Error>): ChildProcess[] {
  const live = results.filter((r): r is ChildProcess => r instanceof ChildProcess);
  started.push(...live);
  return live;
}

function sleeper(seconds: number, extra: Partial<SpawnOptions> = {}): SpawnOptions {
  return { command: 'sleep', args: [String(seconds)], ...extra };
}

function cmdline(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
}

async function killAll(list: ChildProcess[]): Promise<void> {
  for (const child of list) if (child.exitStatus === undefined) child.signal('SIGKILL');
  await Promise.all(list.map((child) => child.wait()));
}

afterEach(async () => {
  await killAll(started.splice(0));
});

describe.skipIf(unsupported !== null)(`spawnMany${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  // The layer opens /dev/null once, on first use, and keeps it: take that out of fd counts.
  beforeAll(() => spawn({ command: 'true' }).wait());

  it('returns one exec\'d, distinct child per entry, in input order, by either clone', () => {
    // Every other entry takes the legacy clone(CLONE_PIDFD) path, as where seccomp blocks clone3.
    const entries = Array.from({ length: 12 }, (_, i) => sleeper(1000 + i, i % 2 === 1 ? { method: 'clone' } : {}));
    const results = spawnMany(entries);
    expect(results).toHaveLength(entries.length);
    const live = children(results);
    expect(live).toHaveLength(entries.length);
    expect(new Set(live.map((child) => child.pid)).size).toBe(entries.length);
    live.forEach((child, i) => {
      expect(results[i]).toBe(child);
      waitUntilAsleep(child.pid);
      expect(cmdline(child.pid)).toEqual(['sleep', String(1000 + i)]);
      expect(Number(procStat(child.pid)[1])).toBe(process.pid);
      if (i % 2 === 1) expect(child.spawnMethod).toBe('clone');
    });
  });

  it.skipIf(!isRoot())('gives each child the options spawn() would: cwd, umask, ids, groups, rlimits, session', () => {
    // Two entries with different values in every field, so a field passed in the wrong place
    // (the request goes to the addon by position) shows in one of them.
    const options = [
      { cwd: '/tmp', umask: 0o027, uid: 65534, gid: 65533, groups: [65532], rlimits: { nofile: 123 } },
      { cwd: '/', umask: 0o002, uid: 65531, gid: 65530, groups: [65529, 65528], rlimits: { nofile: 321 } },
    ];
    const list = children(spawnMany(options.map((extra) => sleeper(1000, { ...extra, detach: 'session', stdio: ['null', 'null', 'null'] }))));
    expect(list).toHaveLength(2);
    list.forEach((child, i) => {
      const want = options[i]!;
      waitUntilAsleep(child.pid);
      const status = procStatus(child.pid);
      expect(fs.readlinkSync(`/proc/${child.pid}/cwd`)).toBe(want.cwd);
      expect(status.get('Umask')).toBe(`0${want.umask.toString(8).padStart(3, '0')}`);
      expect(status.get('Uid')!.split(/\s+/)).toEqual(Array(4).fill(String(want.uid)));
      expect(status.get('Gid')!.split(/\s+/)).toEqual(Array(4).fill(String(want.gid)));
      expect(status.get('Groups')!.split(/\s+/).filter(Boolean).map(Number).sort()).toEqual([...want.groups].sort());
      expect(fs.readFileSync(`/proc/${child.pid}/limits`, 'utf8')).toMatch(new RegExp(`Max open files\\s+${want.rlimits.nofile}\\s+${want.rlimits.nofile}`));
      expect(procStat(child.pid)[3]).toBe(String(child.pid)); // session id: it leads its own
    });
  });

  it('answers an empty list with an empty array', () => {
    expect(spawnMany([])).toEqual([]);
  });

  it('puts each failure in its own slot, starts the rest, and leaves no zombie and no fd', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-many-'));
    const fdsBefore = openFds();
    try {
      const entries: SpawnOptions[] = [
        sleeper(1000, { stdio: ['pipe', 'pipe', 'null'] }),
        { command: path.join(dir, 'missing') },
        sleeper(1001),
        { command: 'true', cwd: path.join(dir, 'missing') },
        { command: 'echo', uid: 65534 }, // invalid: uid without gid
        sleeper(1002, { stdio: ['null', 'pipe', 'pipe'] }),
        { command: 'true', stdio: ['null', { fd: 999_999 }, 'inherit'] },
        { command: 'pidvisor-no-such-command', env: { PATH: dir } },
        null as unknown as SpawnOptions, // not an object: spawn() would throw a TypeError
        sleeper(1003),
      ];
      const results = spawnMany(entries);
      const expected: Array<[number, string, string]> = [
        [1, 'ENOENT', 'execve'],
        [3, 'ENOENT', 'chdir'],
        [4, 'EINVAL', 'options'],
        [6, 'EBADF', 'fds'],
        [7, 'ENOENT', 'execve'],
      ];
      for (const [slot, code, stage] of expected) {
        expect(results[slot]).toBeInstanceOf(SpawnError);
        expect(results[slot]).toMatchObject({ code, stage, command: entries[slot]!.command });
      }
      expect(results[8]).toBeInstanceOf(TypeError);
      const live = children(results);
      expect(live.map((child) => results.indexOf(child))).toEqual([0, 2, 5, 9]);
      for (const child of live) waitUntilAsleep(child.pid);
      expect(live.map((child) => cmdline(child.pid)[1])).toEqual(['1000', '1001', '1002', '1003']);
      expect(zombieChildren()).toEqual([]);
      await killAll(live);
      for (const child of live) for (const stream of [child.stdin, child.stdout, child.stderr]) stream?.destroy();
      await pollUntil(() => openFds().length === fdsBefore.length, 2000);
      expect(openFds()).toEqual(fdsBefore);
      expect(zombieChildren()).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('watches every child: wait() resolves on SIGTERM, pipes work', async () => {
    const live = children(spawnMany([sleeper(1000), sleeper(1001), { command: 'cat', stdio: ['pipe', 'pipe', 'inherit'] }, sleeper(1002)]));
    expect(live).toHaveLength(4);
    const cat = live[2]!;
    expect(await echoThroughPipes(cat, 'through the pipe\n')).toBe('through the pipe\n');
    for (const child of [live[0]!, live[1]!, live[3]!]) {
      waitUntilAsleep(child.pid);
      child.signal('SIGTERM');
    }
    const exits = await Promise.all(live.map((child) => child.wait()));
    expect(exits.map((exit) => exit.signal)).toEqual(['SIGTERM', 'SIGTERM', null, 'SIGTERM']);
    expect(exits[2]!.code).toBe(0);
  });

  it('runs beforeReap while the exited child is still a zombie', async () => {
    let stateAtHook = '';
    const [child] = children(spawnMany([{ command: 'true', beforeReap: () => (stateAtHook = procStat(child!.pid)[0]!) }]));
    await child!.wait();
    expect(stateAtHook).toBe('Z');
  });

  const cgroupRoot = capabilities().cgroup2Mount;
  it.skipIf(cgroupRoot === null || !isRoot())(
    `starts a cgroup entry inside its cgroup and the others where we are${cgroupRoot === null || !isRoot() ? ' (skipped: needs root and a cgroup2 mount)' : ''}`,
    async () => {
      const dir = path.join(cgroupRoot!, `pidvisor-many-${process.pid}`);
      fs.mkdirSync(dir);
      try {
        const ownLine = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
        const results = spawnMany([sleeper(1000), sleeper(1001, { cgroup: dir }), sleeper(1002), sleeper(1003, { cgroup: path.join(dir, 'missing') })]);
        expect(results[3]).toMatchObject({ name: 'SpawnError', code: 'ENOENT', stage: 'cgroup' });
        const live = children(results);
        expect(live).toHaveLength(3);
        const lineOf = (pid: number) => fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
        expect(lineOf(live[1]!.pid)).toBe(`0::/${path.basename(dir)}`);
        expect(lineOf(live[0]!.pid)).toBe(ownLine);
        expect(lineOf(live[2]!.pid)).toBe(ownLine);
        await killAll(live);
      } finally {
        fs.rmdirSync(dir);
      }
    },
  );

  it('clones parentDeathSignal entries on the calling thread: they die with it, the others live on', async () => {
    // In a worker thread, the calling thread is the worker's: when it exits, the kernel sends
    // the parent-death signal to the children it created (a helper thread never exits).
    const code = `
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(nativeIndex)}).then(({ spawnMany }) => {
        // Alternating, and enough of them that a helper would surely take some of the
        // doomed ones if they were not pinned to this thread.
        const results = spawnMany(Array.from({ length: 16 }, (_, i) => ({
          command: 'sleep', args: [String(1000 + i)], ...(i % 2 === 0 ? { parentDeathSignal: 'SIGKILL' } : {}),
        })));
        parentPort.postMessage(results.map((r) => (r instanceof Error ? r.message : r.pid)));
      });`;
    const worker = new Worker(code, { eval: true });
    const pids = await new Promise<Array<number | string>>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(pids.every((pid) => typeof pid === 'number')).toBe(true);
    const [doomed, survivors] = [pids.filter((_, i) => i % 2 === 0) as number[], pids.filter((_, i) => i % 2 === 1) as number[]];
    for (const pid of pids as number[]) waitUntilAsleep(pid);
    await worker.terminate();
    const gone = (pid: number) => !fs.existsSync(`/proc/${pid}`) || procStat(pid)[0] === 'Z';
    try {
      await pollUntil(() => doomed.every(gone), 5000);
      expect(survivors.filter(gone)).toEqual([]); // control: without the signal they live on
    } finally {
      // Ours and unreaped (their handles died with the worker), so these pids cannot have
      // been reused: kill whichever still run by pid, then reap them all as orphans.
      for (const pid of pids as number[]) if (!gone(pid)) process.kill(pid, 'SIGKILL');
      const reaper = new OrphanReaper();
      await pollUntil(() => {
        reaper.sweep();
        return (pids as number[]).every((pid) => !fs.existsSync(`/proc/${pid}`));
      }, 5000);
    }
    expect(zombieChildren()).toEqual([]);
  });

  it('starts parentDeathSignal entries mixed with others in one batch', async () => {
    const live = children(spawnMany([sleeper(1000, { parentDeathSignal: 'SIGKILL' }), sleeper(1001), sleeper(1002, { parentDeathSignal: 'SIGTERM' })]));
    expect(live).toHaveLength(3);
    for (const child of live) waitUntilAsleep(child.pid);
    expect(live.map((child) => cmdline(child.pid)[1])).toEqual(['1000', '1001', '1002']);
  });

  it('hands each cloned child to one ProcessHandle, once, and takes a child from no other value', () => {
    const fdsBefore = openFds();
    const [cloned] = binding.spawnMany([spawnArgs(buildRequest(sleeper(1000)))]);
    expect(cloned).not.toBeInstanceOf(Error);
    const handle = new binding.ProcessHandle(OP_CLONED, cloned as RawClonedChild);
    try {
      waitUntilAsleep(handle.pid);
      expect(cmdline(handle.pid)).toEqual(['sleep', '1000']);
      expect(() => new binding.ProcessHandle(OP_CLONED, cloned as RawClonedChild)).toThrow('taken already');
      expect(() => new binding.ProcessHandle(OP_CLONED, {} as RawClonedChild)).toThrow(TypeError);
    } finally {
      handle[RAW_KILL_AND_REAP]();
    }
    expect(zombieChildren()).toEqual([]);
    expect(openFds()).toEqual(fdsBefore);
  });

  it('kills and reaps a cloned child that no ProcessHandle took, once its value is collected', () => {
    // In a node of its own, for --expose-gc. One entry is cloned on the calling thread, so
    // the child is listed among that thread's children.
    const script = `
      const { binding } = await import(${JSON.stringify(path.join(distNative, 'load.js'))});
      const { buildRequest, spawnArgs } = await import(${JSON.stringify(path.join(distNative, 'spawn.js'))});
      const fs = await import('node:fs');
      let results = binding.spawnMany([spawnArgs(buildRequest({ command: 'sleep', args: ['1000'] }))]);
      const pid = Number(fs.readFileSync('/proc/self/task/' + process.pid + '/children', 'utf8').trim());
      const alive = fs.existsSync('/proc/' + pid);
      results = null;
      const deadline = Date.now() + 5000;
      while (fs.existsSync('/proc/' + pid) && Date.now() < deadline) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      console.log(JSON.stringify({ pid, alive, gone: !fs.existsSync('/proc/' + pid) }));
    `;
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    const { pid, alive, gone } = JSON.parse(out) as { pid: number; alive: boolean; gone: boolean };
    if (!gone) process.kill(pid, 'SIGKILL'); // ours (a grandchild): never leave it running
    expect(alive).toBe(true);
    expect(gone).toBe(true);
  });

  it('leaves nothing behind after batches of 100, and keeps a bounded set of helper threads', async () => {
    const fdsBefore = openFds();
    const threads: number[] = [];
    for (let batch = 0; batch < 3; batch++) {
      const results = spawnMany(Array.from({ length: 100 }, (_, i) => (i % 10 === 9 ? { command: '/nonexistent' } : sleeper(1000 + i))));
      expect(results.filter((r) => r instanceof SpawnError)).toHaveLength(10);
      const live = children(results);
      expect(live).toHaveLength(90);
      for (const child of live) waitUntilAsleep(child.pid);
      threads.push(Number(procStatus('self').get('Threads')));
      await killAll(live);
    }
    expect(threads[2]).toBe(threads[0]);
    expect(zombieChildren()).toEqual([]);
    expect(openFds()).toEqual(fdsBefore);
  });
});
