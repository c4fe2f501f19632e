// Stopping a service whose main process and grandchild both ignore SIGTERM (process-compose
// #520): in group and cgroup modes nothing of the tree is alive when stop() returns; in
// process mode only the main process is ended, by definition.
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { capabilities, pidfdUnsupportedReason } from '../../native/index.js';
import { ignoresSignal, isRoot, isRunning, pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
const cgroupReason = capabilities().cgroup2Mount === null ? 'no cgroup v2 mount' : !isRoot() ? 'needs root to create cgroups' : null;
let t: TestSupervisor;

beforeEach(() => {
  t = createTestSupervisor();
});
afterEach(() => t.close());

const alive = isRunning;

// The shell ignores TERM, so the sleeps it starts inherit that; it prints their pids.
const STUBBORN_TREE = ['sh', '-c', 'trap "" TERM; sleep 1000 & echo $!; sh -c "sleep 1000 & echo \\$!; wait" & wait'];

async function startStubbornTree(killMode: 'process' | 'group' | 'cgroup'): Promise<{ main: number; descendants: number[] }> {
  const info = await t.supervisor.launch({ name: `tree-${killMode}`, command: STUBBORN_TREE, killMode, startGraceMs: 0, stopTimeoutMs: 300, restart: { policy: 'no' } });
  const logs = t.supervisor.service(info.id).logs!;
  await pollUntil(() => logs.tail({ stream: 'stdout' }).length >= 2, 5000);
  const descendants = logs.tail({ stream: 'stdout' }).map((record) => Number(record.data.toString()));
  await pollUntil(() => [info.pid!, ...descendants].every((pid) => ignoresSignal(pid, 15)), 5000);
  return { main: info.pid!, descendants };
}

describe.skipIf(unsupported !== null)(`stopping a tree that ignores SIGTERM${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('group mode: the main process and every grandchild are gone when stop returns', async () => {
    const { main, descendants } = await startStubbornTree('group');
    const stopped = await t.supervisor.stop('tree-group');
    expect(stopped.exit).toMatchObject({ reason: 'killed', signal: 'SIGKILL' });
    expect([main, ...descendants].filter(alive)).toEqual([]);
  });

  it.skipIf(cgroupReason !== null)(`cgroup mode: the cgroup is empty and removed when stop returns${cgroupReason ? ` (skipped: ${cgroupReason})` : ''}`, async () => {
    const { main, descendants } = await startStubbornTree('cgroup');
    const cgroup = t.supervisor.service('tree-cgroup').cgroup!;
    expect(fs.readFileSync(`/proc/${descendants[1]}/cgroup`, 'utf8')).toContain(cgroup.dir.split('/').at(-1));
    const stopped = await t.supervisor.stop('tree-cgroup');
    expect(stopped.exit).toMatchObject({ reason: 'killed', signal: 'SIGKILL' });
    expect([main, ...descendants].filter(alive)).toEqual([]);
    expect(fs.existsSync(cgroup.dir)).toBe(false);
  });

  it.skipIf(cgroupReason !== null)('cgroup mode: a service that made cgroups of its own still stops, and they go too', async () => {
    const info = await t.supervisor.launch({
      name: 'nested',
      command: ['sh', '-c', `mkdir "${capabilities().cgroup2Mount}$(grep '^0::' /proc/self/cgroup | cut -d: -f3)/inner" && exec sleep 1000`],
      killMode: 'cgroup',
      startGraceMs: 0,
    });
    const cgroup = t.supervisor.service(info.id).cgroup!;
    await pollUntil(() => fs.existsSync(`${cgroup.dir}/inner`), 5000);
    const stopped = await t.supervisor.stop('nested');
    expect(stopped.state).toBe('stopped');
    expect(fs.existsSync(cgroup.dir)).toBe(false);
  });

  it.skipIf(cgroupReason !== null)('cgroup mode: the stop signal reaches the main process and what it started, without SIGKILL', async () => {
    // The main process is signalled through the pidfd the service holds, the rest through
    // pidfds opened from cgroup.procs: both must get SIGTERM, or the stop waits for the timeout.
    const info = await t.supervisor.launch({
      name: 'polite-tree',
      command: ['sh', '-c', 'sleep 1000 & echo $!; exec sleep 1000'],
      killMode: 'cgroup',
      startGraceMs: 0,
      stopTimeoutMs: 60_000,
    });
    const logs = t.supervisor.service(info.id).logs!;
    await pollUntil(() => logs.tail({ stream: 'stdout' }).length >= 1, 5000);
    const grandchild = Number(logs.tail({ stream: 'stdout' })[0]!.data.toString());
    const started = Date.now();
    const stopped = await t.supervisor.stop('polite-tree');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stopped.exit).toMatchObject({ reason: 'stopped', signal: 'SIGTERM' });
    expect([info.pid!, grandchild].filter(alive)).toEqual([]);
  });

  it('process mode: the main process is killed; what it started is left alone, by definition', async () => {
    const { main, descendants } = await startStubbornTree('process');
    const stopped = await t.supervisor.stop('tree-process');
    expect(stopped.exit).toMatchObject({ reason: 'killed', signal: 'SIGKILL' });
    expect(alive(main)).toBe(false);
    expect(descendants.filter(alive)).toEqual(descendants);
    for (const pid of descendants) process.kill(pid, 'SIGKILL'); // ours, started by this test
    await pollUntil(() => descendants.every((pid) => !alive(pid)), 5000);
  });

  it('a polite tree stops at the signal, with reason "stopped"', async () => {
    await t.supervisor.launch({ name: 'polite', command: ['sleep', '1000'], startGraceMs: 0 });
    const stopped = await t.supervisor.stop('polite');
    expect(stopped).toMatchObject({ state: 'stopped', pid: null, exit: { reason: 'stopped', signal: 'SIGTERM' } });
  });

  it('kills what is left of a group when the main process exits by itself', async () => {
    const info = await t.supervisor.launch({ name: 'leaver', command: ['sh', '-c', 'sleep 1000 & echo $!; read x'], killMode: 'group', stdin: 'null', startGraceMs: 0, restart: { policy: 'no' } });
    const logs = t.supervisor.service(info.id).logs!;
    await pollUntil(() => logs.tail({ stream: 'stdout' }).length >= 1, 5000);
    const orphan = Number(logs.tail({ stream: 'stdout' })[0]!.data.toString());
    await pollUntil(() => t.supervisor.get('leaver').state === 'exited', 5000);
    await pollUntil(() => !alive(orphan), 5000);
  });

  it.skipIf(cgroupReason !== null)(`kills what is left in the cgroup when the main process exits by itself, then removes the cgroup${cgroupReason ? ` (skipped: ${cgroupReason})` : ''}`, async () => {
    const info = await t.supervisor.launch({ name: 'cg-leaver', command: ['sh', '-c', 'setsid sleep 1000 & echo $!; read x'], killMode: 'cgroup', stdin: 'null', startGraceMs: 0, restart: { policy: 'no' } });
    const service = t.supervisor.service(info.id);
    const dir = service.cgroup!.dir;
    await pollUntil(() => service.logs!.tail({ stream: 'stdout' }).length >= 1, 5000);
    const orphan = Number(service.logs!.tail({ stream: 'stdout' })[0]!.data.toString());
    await pollUntil(() => t.supervisor.get('cg-leaver').state === 'exited', 5000);
    await pollUntil(() => !alive(orphan), 5000);
    await pollUntil(() => !fs.existsSync(dir), 5000);
  });

  it.skipIf(cgroupReason !== null)(`removes the cgroup of a main process that leaves nothing behind${cgroupReason ? ` (skipped: ${cgroupReason})` : ''}`, async () => {
    const info = await t.supervisor.launch({ name: 'cg-alone', command: ['true'], killMode: 'cgroup', startGraceMs: 0, restart: { policy: 'no' } });
    const dir = t.supervisor.service(info.id).cgroup!.dir;
    await pollUntil(() => t.supervisor.get('cg-alone').state === 'exited', 5000);
    await pollUntil(() => !fs.existsSync(dir), 5000);
  });
});
