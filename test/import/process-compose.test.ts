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
import { renderConfig } from '../../import/render.js';
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
      // process-compose's defaults written out (period 10 s, timeout 1 s, 3 failures), and the
      // same check as liveness: process-compose keeps checking readiness once ready.
      readiness: { kind: 'exec', command: ['bash', '-c', 'pg_isready'], initialDelayMs: 0, periodMs: 10_000, timeoutMs: 1000, successThreshold: 1, failureThreshold: 3 },
      liveness: { kind: 'exec', command: ['bash', '-c', 'pg_isready'], initialDelayMs: 10_000, periodMs: 10_000, timeoutMs: 1000, successThreshold: 1, failureThreshold: 3 },
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
    // depends_on: every replica waits for db; process_healthy is db's readiness probe passing: ready.
    expect(web0!.spec.dependsOn).toEqual({ db: { condition: 'ready' } });
    expect(web2!.spec.dependsOn).toEqual({ db: { condition: 'ready' } });
    expect(once!.spec.dependsOn).toEqual({ 'web-0': { condition: 'completed' }, 'web-1': { condition: 'completed' }, 'web-2': { condition: 'completed' } });
    expect(web0!.comments).toEqual(['the front end', `from processes.web in ${file} (replica 0 of 3)`]);
    expect(web2!.spec.env!.PC_REPLICA_NUM).toBe('2');
    expect(once!.spec).toMatchObject({ command: ['bash', '-c', './migrate'], restart: { policy: 'no' }, autostart: false });

    const notes = result.notes.map((note) => `${note.kind} ${note.entry} ${note.setting}`);
    expect(notes).toEqual([
      'approximated (file) variables',
      'unmapped (project) log_level',
      'approximated processes.db readiness_probe',
      'unmapped processes.web shutdown.command',
      'unmapped processes.once unknown_field',
      'approximated processes.once availability.restart',
      'approximated (processes without shutdown.timeout_seconds) shutdown.timeout_seconds',
    ]);
    // Each note says where the setting is: the file and its line.
    const lineOf = (text: string): number => COMPOSE.split('\n').findIndex((line) => line.trimStart().startsWith(text)) + 1;
    expect(result.notes[1]!.at).toBe(`${file}:${lineOf('log_level:')}`);
    expect(result.notes[2]!.at).toBe(`${file}:${lineOf('readiness_probe:')}`);
    expect(result.notes[3]!.at).toBe(`${file}:${lineOf('command: "curl')}`);
    expect(result.notes[0]!.reason).toMatch(/\$PGDATA, \$PORT substituted now/u);
    // Replicas share a command, readiness and liveness a check: written out, not as YAML anchors and aliases.
    const yaml = renderConfig(result);
    expect(yaml).not.toMatch(/[&*]a\d+/u);
    expect(yaml.match(/- pg_isready/gu)).toHaveLength(2);
    expect(result.notes[0]!.reason).not.toMatch(/8080|srv/u);
  });

  it('maps probes as process-compose runs them: exec through the shell in its working_dir, http_get to a URL with one status, ready_log_line literally', () => {
    const text = `processes:
  api:
    command: ./api
    working_dir: srv
    readiness_probe:
      http_get:
        host: localhost
        scheme: HTTPS
        path: /ready?full=1
        port: "8443"
        status_code: 204
        headers:
          X-Probe: "1"
      initial_delay_seconds: 2
      period_seconds: 0
      timeout_seconds: 3
      success_threshold: 2
      failure_threshold: 5
    liveness_probe:
      exec:
        command: "test -f alive"
        working_dir: /tmp
      period_seconds: 4
  logger:
    command: ./logger
    ready_log_line: "listening on (port) 80."
  checked:
    command: ./checked
    is_daemon: true
    liveness_probe:
      http_get:
        port: 99999
        status_code: 500
      exec:
        command: "true"
      extra: 1
  hollow:
    command: ./hollow
    readiness_probe:
      initial_delay_seconds: 1
      grpc:
        port: 50051
  deps:
    command: ./deps
    depends_on:
      api:
        condition: process_healthy
      logger:
        condition: process_log_ready
      checked:
        condition: process_healthy
      hollow:
        condition: process_healthy
      bare:
        condition: process_healthy
      first:
        condition: process_completed_successfully
  first:
    command: ./first
    success_exit_codes: [3]
  bare:
    command: ./bare
`;
    const file = write('probes/process-compose.yaml', text);
    const result = importProcessCompose(file, { cwd: dir, env: {} });
    const spec = (name: string) => result.services.find((service) => service.name === name)!.spec;
    expect(spec('api').readiness).toEqual({ kind: 'http', url: 'https://localhost:8443/ready?full=1', status: [204], initialDelayMs: 2000, periodMs: 10_000, timeoutMs: 3000, successThreshold: 2, failureThreshold: 5 });
    // A working_dir of the probe's own: env -C, since pidvisor runs an exec probe where the service runs.
    expect(spec('api').liveness).toEqual({ kind: 'exec', command: ['env', '-C', '/tmp', 'bash', '-c', 'test -f alive'], initialDelayMs: 0, periodMs: 4000, timeoutMs: 1000, successThreshold: 1, failureThreshold: 3 });
    expect(spec('logger').readiness).toEqual({ kind: 'logLine', pattern: 'listening on \\(port\\) 80\\.', stream: 'any' });
    expect(new RegExp(spec('logger').readiness!.pattern!).test('INFO listening on (port) 80. pid 4')).toBe(true);
    expect(new RegExp(spec('logger').readiness!.pattern!).test('listening on port 80x')).toBe(false);
    expect(spec('logger').liveness).toBeUndefined();
    // exec wins over http_get, as in process-compose.
    expect(spec('checked').liveness).toMatchObject({ kind: 'exec', command: ['bash', '-c', 'true'] });
    expect(spec('hollow').readiness).toBeUndefined();
    expect(spec('deps').dependsOn).toEqual({
      api: { condition: 'ready' },
      logger: { condition: 'ready' },
      checked: { condition: 'healthy' },
      hollow: { condition: 'ready' },
      bare: { condition: 'ready' },
      first: { condition: 'completedSuccessfully' },
    });
    const notes = result.notes.map((note) => `${note.kind} ${note.entry} ${note.setting}`);
    expect(notes).toEqual([
      'unmapped processes.api readiness_probe.http_get.headers',
      'approximated processes.api readiness_probe.success_threshold',
      'approximated processes.api liveness_probe',
      'unmapped processes.api readiness_probe',
      'unmapped processes.checked is_daemon',
      'unmapped processes.checked liveness_probe.extra',
      'unmapped processes.checked liveness_probe.http_get',
      'approximated processes.checked liveness_probe',
      'unmapped processes.hollow readiness_probe.grpc',
      'unmapped processes.hollow readiness_probe',
      'approximated processes.deps depends_on.checked',
      'approximated processes.deps depends_on.hollow',
      'approximated processes.deps depends_on.bare',
      'approximated processes.deps depends_on.first',
      'approximated (processes without shutdown.timeout_seconds) shutdown.timeout_seconds',
    ]);
    const reason = (setting: string, entry: string) => result.notes.find((note) => note.setting === setting && note.entry === entry)!.reason;
    // A liveness probe of a process that is not is_daemon only logs in process-compose.
    expect(reason('liveness_probe', 'processes.api')).toMatch(/only logs the failures of a process that is not is_daemon/u);
    expect(reason('liveness_probe', 'processes.checked')).not.toMatch(/is_daemon/u);
    expect(reason('depends_on.hollow', 'processes.deps')).toMatch(/neither exec nor http_get, so process-compose would wait for it as long as hollow runs/u);
    expect(reason('depends_on.bare', 'processes.deps')).toMatch(/no health check exists in 'bare'/u);
    expect(reason('readiness_probe.grpc', 'processes.hollow')).toMatch(/no gRPC health check/u);
    expect(reason('depends_on.first', 'processes.deps')).toMatch(/success_exit_codes \(3\)/u);
    const lines = text.split('\n');
    expect(result.notes[0]!.at).toBe(`${file}:${lines.indexOf('        headers:') + 1}`);
  });

  it('refuses what process-compose refuses about probes and dependencies, with its reason', () => {
    const refused = (name: string, text: string): (() => unknown) => () => importProcessCompose(write(`refused/${name}.yaml`, text), { cwd: dir, env: {} });
    expect(refused('both', 'processes:\n  a:\n    command: x\n    ready_log_line: up\n    readiness_probe:\n      exec:\n        command: "true"\n')).toThrow(/'ready_log_line' and readiness probe defined in 'a' are incompatible/u);
    expect(refused('logready', 'processes:\n  a:\n    command: x\n  b:\n    command: y\n    depends_on:\n      a:\n        condition: process_log_ready\n')).toThrow(/log ready dependency defined in 'b' but no ready log line exists in 'a'/u);
    expect(refused('ghost', 'processes:\n  b:\n    command: y\n    depends_on:\n      ghost:\n        condition: process_started\n')).toThrow(/dependency process 'ghost' in process 'b' is not defined/u);
    expect(refused('cycle', 'processes:\n  a:\n    command: x\n    depends_on: { b: {} }\n  b:\n    command: y\n    depends_on: { a: {} }\n')).toThrow(/circular dependency found in 'a'/u);
    expect(refused('condition', 'processes:\n  a:\n    command: x\n  b:\n    command: y\n    depends_on: { a: { condition: process_ready } }\n')).toThrow(/invalid process dependency condition: "process_ready"/u);
    expect(refused('strict', 'is_strict: true\nprocesses:\n  a:\n    command: x\n  b:\n    command: y\n    depends_on: { a: { condition: process_healthy } }\n')).toThrow(/health dependency defined in 'b' but no health check exists in 'a'/u);
    expect(refused('timing', 'processes:\n  a:\n    command: x\n    liveness_probe:\n      exec: { command: "true" }\n      period_seconds: soon\n')).toThrow(/liveness_probe\.period_seconds: "soon" is not an integer/u);
  });

  it('depends on every replica of a replicated process, or on the replica named', () => {
    const file = write('replicas.yaml', 'processes:\n  w:\n    command: x\n    replicas: 2\n  a:\n    command: y\n    depends_on: { w: { condition: process_started } }\n  b:\n    command: z\n    depends_on: { w-1: { condition: process_completed } }\n');
    const result = importProcessCompose(file, { cwd: dir, env: {} });
    expect(result.services.find((s) => s.name === 'a')!.spec.dependsOn).toEqual({ 'w-0': { condition: 'started' }, 'w-1': { condition: 'started' } });
    expect(result.services.find((s) => s.name === 'b')!.spec.dependsOn).toEqual({ 'w-1': { condition: 'completed' } });
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
