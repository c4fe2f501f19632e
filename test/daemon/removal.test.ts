// Removing a service on real processes: a removal wins over every restart that races it (no
// child outlives the service that made it, in both kill modes), and it takes the service's
// log files with it, leaving no fd open on them. A shutdown keeps the logs.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { catchesSignal, liveChildren, pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';
import pino from 'pino';
import { Supervisor } from '../../daemon/supervisor.js';

const unsupported = pidfdUnsupportedReason();
let t: TestSupervisor | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

// The command of issue 16's report: a stop that takes 0.3 s, so requests land during it.
const SLOW_STOP = ['sh', '-c', 'trap "sleep 0.3; exit 0" TERM; while :; do sleep 0.05; done'];
/** Files of `service` in the state directory's log folder. */
function logFiles(stateDir: string, service: string): string[] {
  const dir = path.join(stateDir, 'logs');
  return fs.readdirSync(dir).filter((file) => file.startsWith(`${service}.`));
}

/** This process's fds that point into `dir` (a leaked log file shows as "... (deleted)"). */
function fdsInto(dir: string): string[] {
  return fs.readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [`${fd} -> ${target}`] : [];
    } catch {
      return []; // closed while we looked (the readdir's own fd)
    }
  });
}

describe.skipIf(unsupported !== null)(`removing a service${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it.each(['cgroup', 'group'] as const)('%s mode: a restart racing a removal never starts the service again', async (killMode) => {
    t = createTestSupervisor();
    const supervisor = t.supervisor;
    const first = await supervisor.launch({ name: 'x', command: SLOW_STOP, startGraceMs: 0, killMode });
    await pollUntil(() => catchesSignal(first.pid!, 15), 5000); // a TERM before the trap would just kill it

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

  it('waits, when removing a service whose main process just exited, for what it left behind to be killed', async () => {
    t = createTestSupervisor();
    const { supervisor } = t;
    const root = supervisor.system().cgroupRoot;
    if (root === null) throw new Error('cgroup kill mode must be usable here');
    await supervisor.launch({ name: 'leaver', command: ['sh', '-c', 'sleep 1000 & exit 1'], startGraceMs: 0, killMode: 'cgroup', restart: { policy: 'no' }, stdout: 'null', stderr: 'null' });
    // Removed in the same turn as the exit is seen: the kill of the leftover sleep (and the
    // removal of the instance's cgroup) has only begun.
    const removed = await supervisor.wait('leaver').then(() => supervisor.remove('leaver'));
    expect(removed).toMatchObject({ state: 'removed', exit: { code: 1, reason: 'exited' } });
    expect(fs.readdirSync(root, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name)).toEqual([]);
  });

  it('deletes the log files of a removed service, rotated ones too, and leaves no fd on them', async () => {
    t = createTestSupervisor({ logLimits: { maxFileBytes: 4096, keepFiles: 2 } });
    const { supervisor, stateDir } = t;
    const logDir = path.join(stateDir, 'logs');
    const chatty = await supervisor.launch({
      name: 'chatty',
      command: ['sh', '-c', 'i=0; while [ $i -lt 300 ]; do echo "line $i of a service that talks a lot"; i=$((i+1)); done; exec sleep 1000'],
      startGraceMs: 0,
    });
    const logs = supervisor.service('chatty').logs!;
    await pollUntil(() => logs.stats().capturedBytes > 9000, 10_000);
    await logs.flush();
    expect(logFiles(stateDir, 'chatty').length).toBeGreaterThanOrEqual(2); // chatty.<id>.log and .log.1
    expect(fdsInto(logDir).length).toBeGreaterThan(0); // the current file is open while it runs

    const removed = await supervisor.remove('chatty');
    expect(removed).toMatchObject({ id: chatty.id, state: 'removed' });
    expect(logFiles(stateDir, 'chatty')).toEqual([]);
    expect(fdsInto(logDir)).toEqual([]);
  });

  it('keeps the log files of the services a shutdown stops: nobody removed them', async () => {
    t = createTestSupervisor();
    const { supervisor, stateDir } = t;
    await supervisor.launch({ name: 'kept', command: ['sh', '-c', 'echo still here; exec sleep 1000'], startGraceMs: 0 });
    const logs = supervisor.service('kept').logs!;
    await pollUntil(() => logs.tail().length === 1, 5000);
    await supervisor.shutdown();
    expect(logFiles(stateDir, 'kept')).toHaveLength(1);
    expect(fs.readFileSync(path.join(stateDir, 'logs', logFiles(stateDir, 'kept')[0]!), 'utf8')).toMatch(/ stdout F still here\n$/);
    expect(fdsInto(path.join(stateDir, 'logs'))).toEqual([]);
  });

  it('deletes the log files an earlier daemon wrote, when a service restored from its journal is removed', async () => {
    t = createTestSupervisor();
    const { supervisor, stateDir } = t;
    const spec = { name: 'heir', command: ['sh', '-c', 'echo from the first daemon; exec sleep 1000'], startGraceMs: 0 };
    const { id } = await supervisor.launch(spec);
    const logs = supervisor.service('heir').logs!;
    await pollUntil(() => logs.tail().length === 1, 5000);
    await supervisor.shutdown(); // keeps the file
    expect(logFiles(stateDir, 'heir')).toHaveLength(1);
    // The next daemon re-creates the service under its id; this life's writer has written nothing.
    const next = new Supervisor({ stateDir, logger: pino({ level: 'silent' }), cgroupName: `${t.cgroupName}-next` });
    try {
      next.restoreService(id, spec, 'api');
      expect(next.service(id).logs!.stats().writtenBytes).toBe(0);
      await next.remove(id);
      expect(logFiles(stateDir, 'heir')).toEqual([]);
    } finally {
      await next.shutdown();
    }
  });
});
