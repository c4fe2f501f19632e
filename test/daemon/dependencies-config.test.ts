// dependsOn in the config file and in the state journal: a reload with a cycle or a name the
// file does not define is refused whole, each problem at its line; and a service waiting
// for its dependency when its daemon died is taken over still waiting, with its dependsOn,
// and starts once the dependency (held again) is ready.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { capabilities, pidfdUnsupportedReason } from '../../native/index.js';
import { applyConfigFile, parseConfig } from '../../daemon/config.js';
import { openState, resumeState, type StatePersistence } from '../../daemon/state-persistence.js';
import { Supervisor } from '../../daemon/supervisor.js';
import { isRunning, pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, waitForState, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason() ?? (capabilities().features.pidfs.ok ? null : 'no pidfs (Linux 6.9): instances cannot be held again after a take-over');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.skipIf(unsupported !== null)(`dependsOn in config and journal${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('refuses a reload with a cycle or a missing name, at their lines, and changes nothing', async () => {
    const t: TestSupervisor = createTestSupervisor();
    cleanups.push(() => t.close());
    await applyConfigFile(t.supervisor, parseConfig('services:\n  db:\n    command: [sleep, "1000"]\n', 'ok.yaml'));
    const bad = parseConfig(
      ['services:', '  db:', '    command: [sleep, "1000"]', '    dependsOn:', '      web: { condition: started }', '  web:', '    command: [sleep, "1000"]', '    dependsOn:', '      db: { condition: ready }', '      cache: { condition: healthy }', ''].join('\n'),
      'bad.yaml',
    );
    const error = await applyConfigFile(t.supervisor, bad).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((error as { details: { problems: unknown[] } }).details.problems).toEqual([
      { path: 'services.db.dependsOn.web', line: 5, column: 7, message: 'dependency cycle: db -> web -> db' },
      { path: 'services.web.dependsOn.cache', line: 10, column: 7, message: 'depends on "cache", and there is no service of that name in this file' },
    ]);
    expect(t.supervisor.list().map((p) => p.name)).toEqual(['db']);
  });

  it('a reload that restarts db restarts web (restart: propagate) around it, dependents first, and leaves cron (no propagate) alone', async () => {
    const t: TestSupervisor = createTestSupervisor();
    cleanups.push(() => t.close());
    const file = (mode: string) =>
      parseConfig(
        `services:
  db: { command: [sleep, "1000"], startGraceMs: 100, env: { MODE: ${mode} } }
  web: { command: [sleep, "1000"], startGraceMs: 0, dependsOn: { db: { condition: ready, restart: propagate } } }
  cron: { command: [sleep, "1000"], startGraceMs: 0, dependsOn: { db: { condition: ready } } }
`,
        'app.yaml',
      );
    await applyConfigFile(t.supervisor, file('a'));
    await waitForState(t.supervisor, 'web', 'running', 10_000);
    await waitForState(t.supervisor, 'cron', 'running', 10_000);
    const [web, cron] = [t.supervisor.get('web'), t.supervisor.get('cron')];
    const from = t.supervisor.events.lastSeq;

    expect(await applyConfigFile(t.supervisor, file('b'))).toMatchObject({ changed: [{ name: 'db', fields: ['env.MODE'] }] });
    await waitForState(t.supervisor, 'web', 'running', 10_000);
    const seqOf = (name: string, predicate: (e: (typeof t.events)[number]) => boolean) => t.events.find((e) => e.seq > from && e.service.name === name && predicate(e))?.seq ?? -1;
    const webGone = seqOf('web', (e) => e.type === 'exit');
    expect(webGone).toBeGreaterThan(0);
    expect(webGone).toBeLessThan(seqOf('db', (e) => e.type === 'state' && e.to === 'stopping'));
    expect(seqOf('web', (e) => e.type === 'state' && e.to === 'running')).toBeGreaterThan(seqOf('db', (e) => e.type === 'state' && e.to === 'running'));
    expect(t.supervisor.get('web').pid).not.toBe(web.pid);
    expect(t.supervisor.get('cron').pid).toBe(cron.pid);
  });

  it('takes a waiting service over still waiting, with its dependsOn, and starts it, its dependency having become ready while no daemon ran', async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-deps-journal-'));
    const logger = pino({ level: 'silent' });
    cleanups.push(() => fs.rmSync(stateDir, { recursive: true, force: true }));
    const daemon = (): { supervisor: Supervisor; persistence: StatePersistence } => {
      const { store, events } = openState(stateDir, logger);
      const supervisor = new Supervisor({ stateDir, logger, events, cgroupMount: null });
      return { supervisor, persistence: resumeState(supervisor, store, logger, null) };
    };

    const first = daemon();
    const db = await first.supervisor.launch({ name: 'db', command: ['sleep', '1000'], startGraceMs: 300, killMode: 'group' });
    cleanups.push(() => {
      // Only if a failure left it: through /proc, as the instance's own pid, never a guess.
      if (isRunning(db.pid!)) process.kill(db.pid!, 'SIGKILL');
    });
    await first.supervisor.launch({ name: 'web', command: ['sleep', '1000'], startGraceMs: 0, killMode: 'group', dependsOn: { db: { condition: 'ready', restart: 'propagate' } } });
    expect(first.supervisor.get('web').state).toBe('waiting');
    // The daemon dies: its services run on, its journal stays; db's grace period ends meanwhile.
    first.persistence.abandon();
    await pollUntil(() => Date.now() > Date.parse(db.startedAt!) + 400, 5000);

    const second = daemon();
    cleanups.push(async () => {
      await second.supervisor.shutdown();
      second.persistence.close();
    });
    expect(second.persistence.report.adopted).toBe(1);
    // Restored as the journal had it; its gate runs once every service is back (db after it
    // would be the same): db, held again, is ready now, so web starts without any new event of db.
    const restored = second.persistence.store.state.services;
    expect([...restored.values()].find((s) => (s.spec as { name?: string }).name === 'web')?.spec).toMatchObject({ dependsOn: { db: { condition: 'ready', restart: 'propagate' } } });
    expect(second.supervisor.get('db')).toMatchObject({ state: 'running', pid: db.pid });
    expect(second.supervisor.get('web')).toMatchObject({ state: 'waiting', pid: null });
    await waitForState(second.supervisor, 'web', 'running', 10_000);
    expect(second.supervisor.get('web').dependencies).toEqual([{ name: 'db', condition: 'ready', restart: 'propagate', status: 'met', reason: '' }]);
  });
});
