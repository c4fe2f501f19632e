// Removing a service on real processes: a removal wins over every restart that races it (no
// child outlives the service that made it, in both kill modes).
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { liveChildren, pollUntil, procStatus } from '../helpers/proc.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
let t: TestSupervisor | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

// The command of issue 16's report: a stop that takes 0.3 s, so requests land during it.
const SLOW_STOP = ['sh', '-c', 'trap "sleep 0.3; exit 0" TERM; while :; do sleep 0.05; done'];
const SIGTERM_BIT = 1n << 14n;

/** Waits until the shell has installed its TERM trap (a TERM before that would just kill it). */
async function trapsTerm(pid: number): Promise<void> {
  await pollUntil(() => (BigInt(`0x${procStatus(pid).get('SigCgt') ?? '0'}`) & SIGTERM_BIT) !== 0n, 5000);
}

describe.skipIf(unsupported !== null)(`removing a service${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it.each(['cgroup', 'group'] as const)('%s mode: a restart racing a removal never starts the service again', async (killMode) => {
    t = createTestSupervisor();
    const supervisor = t.supervisor;
    const first = await supervisor.launch({ name: 'x', command: SLOW_STOP, startGraceMs: 0, killMode });
    await trapsTerm(first.pid!);

    const restarting = supervisor.restart('x').then(() => 'restarted', (error: unknown) => error); // stopping, a start queued behind the stop
    expect(supervisor.get('x').state).toBe('stopping');
    const removing = supervisor.remove('x'); // the stop becomes a removal
    expect(supervisor.get('x')).toMatchObject({ state: 'removing', pid: first.pid });
    // A restart asked during the removal is refused at once, and nothing is queued.
    await expect(supervisor.restart('x')).rejects.toMatchObject({ code: 'REMOVING' });
    await expect(supervisor.start('x')).rejects.toMatchObject({ code: 'REMOVING' });

    expect(await removing).toMatchObject({ state: 'removed', pid: null });
    expect(await restarting).toMatchObject({ code: 'SERVICE_NOT_FOUND' });
    await expect(supervisor.restart('x')).rejects.toMatchObject({ code: 'SERVICE_NOT_FOUND' });
    expect(supervisor.list()).toEqual([]);
    // The removal answered once the tree was gone: no child of ours is left, and no cgroup.
    expect(liveChildren()).toEqual([]);
    const root = supervisor.system().cgroupRoot;
    if (root !== null) expect(fs.readdirSync(root).filter((entry) => fs.statSync(path.join(root, entry)).isDirectory())).toEqual([]);
  });

});
