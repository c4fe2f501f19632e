// Dependencies on real processes: the chain db (ready: past its start grace period, until
// readiness probes exist), migrate (must complete successfully) and web (needs both). Every
// process appends "<name> <what> <ns since the epoch>" to one log file (O_APPEND: lines in
// the order written), so the order of starts and stops is read from the processes themselves.
// Only orders the daemon causes are asserted: a dependency's own first line may come after
// its dependent's (ready means past the grace period, which a loaded machine can outrun
// before the dependency's shell writes), so readiness is checked against the moment the
// daemon marked it running.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { isRunning, pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, waitForState, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
let t: TestSupervisor;
let dir: string;
let log: string;

beforeEach(() => {
  t = createTestSupervisor();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-deps-'));
  log = path.join(dir, 'order.log');
});
afterEach(async () => {
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

// $0 is the service name. On TERM: wait `stopDelay` s (so a stop that is not ordered shows
// in the log), note the stop, exit.
const note = (what: string) => `echo "$0 ${what} $(date +%s%N)" >> "$LOG"`;
const longRunning = (stopDelay = 0) => `trap '${stopDelay > 0 ? `sleep ${stopDelay}; ` : ''}${note('stop')}; exit 0' TERM; ${note('start')}; sleep 1000 & wait`;
// Fails while $DIR/fail exists.
const migration = `${note('start')}; sleep 0.2; if [ -e "$DIR/fail" ]; then ${note('failed')}; exit 1; fi; ${note('done')}`;

interface Line {
  name: string;
  what: string;
  ns: bigint;
}
const lines = (): Line[] =>
  (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '')
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [name, what, ns] = l.split(' ');
      return { name: name!, what: what!, ns: BigInt(ns!) };
    });
const position = (name: string, what: string, occurrence = 1): number => {
  let seen = 0;
  const index = lines().findIndex((l) => l.name === name && l.what === what && ++seen === occurrence);
  if (index < 0) throw new Error(`no line "${name} ${what}" #${occurrence} in ${JSON.stringify(lines())}`);
  return index;
};
const nsOf = (name: string, what: string, occurrence = 1): bigint => lines()[position(name, what, occurrence)]!.ns;

function chain(options: { dbGraceMs?: number } = {}) {
  const env = { LOG: log, DIR: dir };
  return {
    db: { command: ['sh', '-c', longRunning(0.3), 'db'], env, startGraceMs: options.dbGraceMs ?? 300, killMode: 'group' as const },
    migrate: {
      command: ['sh', '-c', migration, 'migrate'],
      env,
      startGraceMs: 0,
      restart: { policy: 'no' as const },
      dependsOn: { db: { condition: 'ready' as const } },
      killMode: 'group' as const,
    },
    web: {
      command: ['sh', '-c', longRunning(0.3), 'web'],
      env,
      startGraceMs: 0,
      killMode: 'group' as const,
      dependsOn: { db: { condition: 'ready' as const }, migrate: { condition: 'completedSuccessfully' as const } },
    },
  };
}

/** The time (ns since the epoch) of the event where `name` entered `state` (the n-th time). */
function enteredAt(name: string, state: string, occurrence = 1): bigint {
  const event = t.events.filter((e) => e.type === 'state' && e.service.name === name && e.to === state && e.from !== state)[occurrence - 1];
  if (event === undefined) throw new Error(`${name} never entered ${state} (#${occurrence})`);
  return BigInt(Date.parse(event.time)) * 1_000_000n;
}

/** A bounded poll whose failure shows what the processes wrote and what the daemon recorded. */
async function until(condition: () => boolean, what: string): Promise<void> {
  await pollUntil(condition, 10_000).catch(() => {
    const events = t.events.map((e) => `${e.seq} ${e.type} ${e.service.name} ${e.from ?? ''}->${e.to ?? ''} pid ${e.pid ?? '-'} ${e.reason ?? ''}`);
    throw new Error(`not seen within 10 s: ${what}\n--- processes ---\n${fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : ''}--- events ---\n${events.join('\n')}`);
  });
}

describe.skipIf(unsupported !== null)(`dependencies${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('starts db, then migrate once db is ready, then web once migrate has completed successfully', async () => {
    // Listed dependents first: the order of the file is not the start order.
    const { db, migrate, web } = chain();
    await t.supervisor.applyConfig({ web: { ...web, name: 'web' }, migrate: { ...migrate, name: 'migrate' }, db: { ...db, name: 'db' } });
    expect(t.supervisor.get('web').state).toBe('waiting');
    expect(t.supervisor.get('web').reason).toMatch(/^waiting for db \(ready\): db is starting.*; migrate \(completedSuccessfully\): migrate is waiting/);
    await waitForState(t.supervisor, 'web', 'running', 10_000);
    // Both must have set their TERM trap (written their start) before the shutdown's stops reach them.
    await until(() => lines().some((l) => l.name === 'web' && l.what === 'start') && lines().some((l) => l.name === 'db' && l.what === 'start'), 'web and db wrote their start');

    const without = (name: string) => lines().filter((l) => l.name !== name).map((l) => `${l.name} ${l.what}`);
    expect(without('db')).toEqual(['migrate start', 'migrate done', 'web start']);
    // migrate ran only once db was ready (running: its grace period over), web only after migrate's end.
    expect(nsOf('migrate', 'start')).toBeGreaterThanOrEqual(enteredAt('db', 'running'));
    expect(nsOf('web', 'start')).toBeGreaterThan(nsOf('migrate', 'done'));
    expect(t.supervisor.get('web').dependencies.map((d) => [d.name, d.status])).toEqual([
      ['db', 'met'],
      ['migrate', 'met'],
    ]);

    // Shutdown: dependents first. web takes 0.3 s to stop; db is not signalled before it is gone.
    await t.supervisor.shutdown();
    expect(nsOf('web', 'stop')).toBeLessThan(nsOf('db', 'stop'));
    expect(position('web', 'stop')).toBeLessThan(position('db', 'stop'));
  });

  it('keeps web from starting while migrate fails, names migrate and why; starting web by hand runs migrate again first', async () => {
    fs.writeFileSync(path.join(dir, 'fail'), '');
    const { db, migrate, web } = chain({ dbGraceMs: 0 });
    await t.supervisor.applyConfig({ db: { ...db, name: 'db' }, migrate: { ...migrate, name: 'migrate' }, web: { ...web, name: 'web' } });
    await waitForState(t.supervisor, 'web', 'blocked', 10_000);
    const blocked = t.supervisor.get('web');
    expect(blocked.pid).toBeNull();
    expect(blocked.reason).toBe('blocked by migrate (completedSuccessfully): migrate is exited (exited with code 1)');
    expect(blocked.dependencies.find((d) => d.name === 'migrate')).toMatchObject({ status: 'blocked', reason: 'migrate is exited (exited with code 1)' });
    expect(t.supervisor.graph().edges).toContainEqual(expect.objectContaining({ from: 'web', name: 'migrate', status: 'blocked' }));
    expect(lines().some((l) => l.name === 'web')).toBe(false);

    // Fixed; a start of web by hand starts what it needs first: migrate runs again.
    fs.rmSync(path.join(dir, 'fail'));
    const started = await t.supervisor.start('web');
    expect(started.state).toBe('waiting');
    expect(started.reason).toMatch(/^waiting for migrate \(completedSuccessfully\): migrate is running/);
    await waitForState(t.supervisor, 'web', 'running', 10_000);
    await until(() => lines().some((l) => l.name === 'web'), 'web wrote its start');
    expect(lines().filter((l) => l.name !== 'db').map((l) => `${l.name} ${l.what}`)).toEqual(['migrate start', 'migrate failed', 'migrate start', 'migrate done', 'web start']);
    expect(lines().filter((l) => l.name === 'db').map((l) => l.what)).toEqual(['start']);
  });

  it('stops the dependents first: a stop of db with restart: propagate stops web before db, and a restart starts web again after db', async () => {
    const env = { LOG: log };
    await t.supervisor.launch({ name: 'db', command: ['sh', '-c', longRunning(0), 'db'], env, startGraceMs: 200, killMode: 'group' });
    await t.supervisor.launch({ name: 'web', command: ['sh', '-c', longRunning(0.3), 'web'], env, startGraceMs: 0, killMode: 'group', dependsOn: { db: { condition: 'ready', restart: 'propagate' } } });
    await t.supervisor.launch({ name: 'cron', command: ['sh', '-c', longRunning(0), 'cron'], env, startGraceMs: 0, killMode: 'group', dependsOn: { db: { condition: 'started' } } });
    await waitForState(t.supervisor, 'web', 'running', 10_000);
    // A stop that reaches a shell before its trap is set ends it without a line: wait until each has written.
    const started = (name: string, count: number) => lines().filter((l) => l.name === name && l.what === 'start').length === count;
    await until(() => started('db', 1) && started('web', 1) && started('cron', 1), 'db, web and cron wrote their start');
    const cronPid = t.supervisor.get('cron').pid!;

    await t.supervisor.restart('db');
    await waitForState(t.supervisor, 'web', 'running', 10_000);
    await until(() => started('db', 2) && started('web', 2), 'db and web wrote their second start');
    // web (0.3 s to stop) was gone before db got its stop; each started again after, web once db was ready.
    expect(position('web', 'stop')).toBeLessThan(position('db', 'stop'));
    expect(position('db', 'stop')).toBeLessThan(position('db', 'start', 2));
    expect(position('web', 'stop')).toBeLessThan(position('web', 'start', 2));
    expect(nsOf('web', 'start', 2)).toBeGreaterThanOrEqual(enteredAt('db', 'running', 2));
    expect(enteredAt('web', 'running', 2)).toBeGreaterThanOrEqual(enteredAt('db', 'running', 2));
    expect(lines().filter((l) => l.name !== 'cron')).toHaveLength(6);
    // cron has no propagate: the restart of db left it as it was.
    expect(t.supervisor.get('cron').pid).toBe(cronPid);
    expect(isRunning(cronPid)).toBe(true);

    // A stop about an instance that is no longer db's is refused before any dependent is touched.
    const webPid = t.supervisor.get('web').pid;
    await expect(t.supervisor.stop('db', undefined, { instance: `${t.supervisor.get('db').pid}.0` })).rejects.toMatchObject({ code: 'INSTANCE_MISMATCH' });
    await expect(t.supervisor.restart('db', undefined, { instance: `${t.supervisor.get('db').pid}.0` })).rejects.toMatchObject({ code: 'INSTANCE_MISMATCH' });
    expect(t.supervisor.get('web')).toMatchObject({ state: 'running', pid: webPid });

    await t.supervisor.stop('db');
    expect(t.supervisor.get('web').state).toBe('stopped');
    expect(position('web', 'stop', 2)).toBeLessThan(position('db', 'stop', 2));
    expect(t.supervisor.get('cron').pid).toBe(cronPid);
  });

  it('blocks a waiting dependent when its dependency is removed, naming it', async () => {
    await t.supervisor.launch({ name: 'db', command: ['sleep', '1000'], startGraceMs: 60_000 });
    await t.supervisor.launch({ name: 'web', command: ['sleep', '1000'], dependsOn: { db: { condition: 'ready' } } });
    expect(t.supervisor.get('web').state).toBe('waiting');
    await t.supervisor.remove('db');
    await waitForState(t.supervisor, 'web', 'blocked', 5000);
    expect(t.supervisor.get('web').reason).toBe('blocked by db (ready): there is no service named db');
    // A start by hand cannot bring it back: refused, with the reason; nothing starts.
    await expect(t.supervisor.start('web')).rejects.toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', details: { dependency: 'db' } });
    expect(t.supervisor.get('web').pid).toBeNull();
    // A new db, ready at once: web starts.
    await t.supervisor.launch({ name: 'db', command: ['sleep', '1000'], startGraceMs: 0 });
    await waitForState(t.supervisor, 'web', 'running', 5000);
  });
});
