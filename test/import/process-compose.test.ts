// `pidvisor import` of process-compose files. process-compose is in neither Debian nor npm,
// so there is no reference run here: the expectations follow its source (src/loader for the
// substitution of variables and defaults, src/types/process.go for command and entrypoint,
// src/app/process.go for restarts and stops, src/app/environment.go for the environment).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importProcessCompose } from '../../import/process-compose/import.js';
import { envsubst, parseDotEnv } from '../../import/process-compose/envsubst.js';
import { ImportError } from '../../import/result.js';

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-import-pc-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

const COMPOSE = `version: "0.5"
log_level: info
environment:
  - 'GLOBAL=1'
  - 'SHARED=global'

processes:
  # the database comes first
  db:
    command: "postgres -D \${PGDATA:-/var/lib/pg} -c 'listen_addresses=*'"
    working_dir: data
    environment:
      - 'SHARED=local'
      - 'PRICE=$$5'
    availability:
      restart: on_failure
      backoff_seconds: 3
      max_restarts: 4
    success_exit_codes: [143]
    shutdown:
      signal: 2
      timeout_seconds: 20
    readiness_probe:
      exec:
        command: pg_isready
  web:
    description: the front end
    entrypoint: [node, server.js, --port, "\${PORT}"]
    replicas: 3
    depends_on:
      db:
        condition: process_healthy
    availability:
      restart: always
    shutdown:
      command: "curl -X POST localhost/quit"
      parent_only: true
    namespace: front
  once:
    command: ./migrate
    disabled: true
    availability:
      restart: exit_on_failure
    depends_on:
      web: {}
      ghost:
        condition: process_started
    unknown_field: 1
`;

describe('process-compose import', () => {
  it('reads processes as process-compose does: variables, shell commands, entrypoints, replicas, restarts, stops', () => {
    write('.env', '# from the .env file\nPORT=8080\nexport PGDATA="/srv/pg"\n');
    const file = write('process-compose.yaml', COMPOSE);
    const result = importProcessCompose(file, { cwd: dir, env: { PATH: '/usr/bin' } });
    expect(result.services.map((s) => s.name)).toEqual(['db', 'web-0', 'web-1', 'web-2', 'once']);
    const [db, web0, , web2, once] = result.services;

    expect(db!.comments).toEqual(['the database comes first', `from processes.db in ${file}`]);
    expect(db!.spec).toEqual({
      command: ['bash', '-c', "postgres -D /srv/pg -c 'listen_addresses=*'"],
      env: { PC_PROC_NAME: 'db', PC_REPLICA_NUM: '0', GLOBAL: '1', SHARED: 'local', PRICE: '$5' },
      cwd: path.join(dir, 'data'),
      restart: { policy: 'on-failure', successCodes: [0, 143], initialDelayMs: 3000, multiplier: 1, maxDelayMs: 3000, jitter: 0, maxRestarts: 4, windowMs: 365 * 24 * 3600 * 1000 },
      stopSignal: 'SIGINT',
      stopTimeoutMs: 20_000,
    });
    expect(web0!.spec).toMatchObject({
      command: ['node', 'server.js', '--port', '8080'],
      env: { PC_PROC_NAME: 'web', PC_REPLICA_NUM: '0', GLOBAL: '1', SHARED: 'global' },
      cwd: dir,
      restart: { policy: 'always', initialDelayMs: 1000, maxRestarts: 1_000_000 },
      stopSignal: 'SIGTERM',
      killMode: 'process',
      labels: { namespace: 'front' },
    });
    expect(web0!.spec.stopTimeoutMs).toBeUndefined();
    // depends_on: every replica waits for db; healthy is "running past startGraceMs" while db's readiness probe is not mapped.
    expect(web0!.spec.dependsOn).toEqual({ db: { condition: 'healthy' } });
    expect(web2!.spec.dependsOn).toEqual({ db: { condition: 'healthy' } });
    expect(once!.spec.dependsOn).toEqual({ 'web-0': { condition: 'completed' }, 'web-1': { condition: 'completed' }, 'web-2': { condition: 'completed' } });
    expect(web0!.comments).toEqual(['the front end', `from processes.web in ${file} (replica 0 of 3)`]);
    expect(web2!.spec.env!.PC_REPLICA_NUM).toBe('2');
    expect(once!.spec).toMatchObject({ command: ['bash', '-c', './migrate'], restart: { policy: 'no' }, autostart: false });

    const notes = result.notes.map((note) => `${note.kind} ${note.entry} ${note.setting}`);
    expect(notes).toEqual([
      'approximated (file) variables',
      'unmapped (project) log_level',
      'unmapped processes.db readiness_probe',
      'unmapped processes.web shutdown.command',
      'unmapped processes.once unknown_field',
      'approximated processes.once availability.restart',
      'approximated processes.web depends_on.db',
      'unmapped processes.once depends_on.ghost',
      'approximated (processes without shutdown.timeout_seconds) shutdown.timeout_seconds',
    ]);
    expect(result.notes[0]!.reason).toMatch(/\$PGDATA, \$PORT substituted now/u);
    expect(result.notes[0]!.reason).not.toMatch(/8080|srv/u);
  });

  it('substitutes variables as process-compose (drone/envsubst) does', () => {
    const lookup = (name: string): string | undefined => ({ SET: 'value', EMPTY: '' })[name];
    expect(envsubst('a $SET ${SET} $$SET ${MISSING} $MISSING ${MISSING:-d1} ${EMPTY:-d2} ${EMPTY-d3} ${SET:-d4} $ 5', lookup, 'f').text).toBe('a value value $SET   d1 d2  value $ 5');
    expect(() => envsubst('x ${SET/a/b}', lookup, 'f')).toThrow(/not supported/u);
    expect(parseDotEnv('A=1\n# c\nexport B="two words"\nC=\'x\'\nD=plain # comment\n')).toEqual({ A: '1', B: 'two words', C: 'x', D: 'plain' });
  });

  it('refuses a process with nothing to run, and a file that is not a mapping', () => {
    expect(() => importProcessCompose(write('empty.yaml', 'processes:\n  x:\n    working_dir: /\n'), { cwd: dir })).toThrow(/neither command nor entrypoint/u);
    expect(() => importProcessCompose(write('list.yaml', '- a\n'), { cwd: dir })).toThrow(ImportError);
    expect(() => importProcessCompose(write('env.yaml', 'processes:\n  x:\n    command: a\n    environment: { A: 1 }\n'), { cwd: dir })).toThrow(/list of KEY=VALUE/u);
  });
});
