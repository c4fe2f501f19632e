// `pidvisor import` end to end: the CLI prints a config for a supervisord, a PM2 and a
// process-compose file, `pidvisor check` takes it, and a real daemon loaded with it runs
// every program with the working directory, arguments and environment the source gave it
// (each program records them, test/fixtures/import/record.sh), and stops them all.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { PIDVISOR_BIN, startDaemonProcess } from '../helpers/daemon-process.js';
import { pollUntil } from '../helpers/proc.js';

const RECORD = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/import/record.sh');
const unsupported = pidfdUnsupportedReason();

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

let dir = '';

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PIDVISOR_BIN, ...args], { cwd: dir, env: { ...process.env, IMPORT_VALUE: 'from-the-shell' }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

interface Record_ {
  pid: number;
  cwd: string;
  args: string[];
  value: string;
}

function records(directory: string): Record_[] {
  return fs
    .readdirSync(directory)
    .filter((name) => /^\d+$/u.test(name))
    .map((name) => {
      const lines = fs.readFileSync(path.join(directory, name), 'utf8').trim().split('\n');
      const field = (key: string): string[] => lines.filter((line) => line.startsWith(`${key}=`)).map((line) => line.slice(key.length + 1));
      return { pid: Number(name), cwd: field('cwd')[0]!, args: field('arg'), value: field('value')[0]! };
    })
    .sort((a, b) => a.value.localeCompare(b.value));
}

/**
 * Imports `source` with the CLI, checks the printed config, runs it in a real daemon until
 * `count` programs have recorded themselves, stops the daemon; returns the records.
 */
async function importAndRun(format: string, source: string, count: number, ...options: string[]): Promise<Record_[]> {
  const imported = await cli('import', source, ...options);
  expect(imported.code, imported.stderr).toBe(0);
  const config = write(`${format}.pidvisor.yaml`, imported.stdout);
  const check = await cli('check', '--config', config);
  expect(check.code, check.stderr).toBe(0);
  const recordDir = path.join(dir, 'records', format);
  const daemon = startDaemonProcess(['--config', config, '--socket', path.join(dir, `${format}.sock`), '--state-dir', path.join(dir, `state-${format}`), '--cgroup-name', `pidvisor-test-import-${process.pid}-${format}`]);
  try {
    await pollUntil(() => fs.readdirSync(recordDir).filter((name) => /^\d+$/u.test(name)).length >= count, 20_000);
    const found = records(recordDir);
    expect(found).toHaveLength(count);
    // They run, and under this daemon.
    for (const record of found) expect(fs.readFileSync(`/proc/${record.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]).toBe(String(daemon.supervisorPid()));
    expect(await daemon.stop('SIGTERM')).toBe(0);
    for (const record of found) expect(fs.existsSync(`/proc/${record.pid}`)).toBe(false);
    return found;
  } finally {
    if (daemon.process.exitCode === null && daemon.process.signalCode === null) await daemon.stop('SIGKILL');
  }
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-import-run-'));
  fs.mkdirSync(path.join(dir, 'work'));
  fs.copyFileSync(RECORD, path.join(dir, 'work', 'record.sh'));
  fs.chmodSync(path.join(dir, 'work', 'record.sh'), 0o755);
  for (const format of ['supervisord', 'pm2', 'process-compose']) fs.mkdirSync(path.join(dir, 'records', format), { recursive: true });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('pidvisor import (CLI)', () => {
  it('has help, and refuses bad usage and bad files with their reasons', async () => {
    const help = await cli('import', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: pidvisor import FILE \[--from supervisord\|pm2\|process-compose\]/u);
    expect(help.stdout).toMatch(/it is\s+your code/u);
    expect((await cli('--help')).stdout).toMatch(/^\s+import\s+Print the pidvisor config/mu);
    expect(await cli('import')).toMatchObject({ code: 2, stderr: 'pidvisor import: missing FILE\n' });
    expect((await cli('import', 'x.conf', '--from', 'upstart')).code).toBe(2);
    const missing = await cli('import', 'nowhere.conf');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^pidvisor import: cannot read nowhere\.conf/u);
    const bad = await cli('import', write('bad.conf', '[program:a]\ncommand=sleep 1\nautostart=maybe\n'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad\.conf:3: not a valid boolean value: 'maybe'/u);
    expect((await cli('import', write('plain.txt', 'hello\n'))).stderr).toMatch(/cannot tell its format/u);
    expect((await cli('import', write('w.conf', '[program:a]\ncommand=true\n'), '--env', 'production')).stderr).toMatch(/--env is a PM2 option/u);
  });

  it('prints the notes on stderr, and everything as JSON with --json', async () => {
    const source = write('notes.conf', '[program:a]\ncommand=sleep 1000\npriority=5\n');
    const text = await cli('import', source);
    expect(text.stdout).toMatch(/^# pidvisor config imported from .*notes\.conf \(supervisord\)/u);
    expect(text.stdout).toMatch(/# .*notes\.conf:3: \[program:a\] priority: unmapped: a priority orders starts and stops but is no dependency.*add it by hand/u);
    expect(text.stderr).toMatch(/^pidvisor import: 1 service\(s\) from supervisord; 1 setting\(s\) not carried over as they were:\n {2}.*notes\.conf:3: \[program:a\] priority: unmapped/u);
    const json = await cli('import', source, '--json');
    expect(json.stderr).toBe('');
    const parsed = JSON.parse(json.stdout) as { format: string; config: { services: Record<string, { command: string[] }> }; notes: Array<{ setting: string; kind: string }> };
    expect(parsed.format).toBe('supervisord');
    expect(parsed.config.services.a!.command).toEqual(['sleep', '1000']);
    expect(parsed.notes).toEqual([expect.objectContaining({ kind: 'unmapped', setting: 'priority' })]);
  });

  describe.skipIf(unsupported !== null)(`in a real daemon${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
    it('runs a supervisord program, numprocs of it, with its directory, arguments and environment', async () => {
      const source = write(
        'supervisord.conf',
        `[supervisord]
environment=RECORD_DIR="%(here)s/records/supervisord"

[program:rec]
command=%(here)s/work/record.sh "first arg" %(process_num)s
process_name=rec_%(process_num)s
numprocs=2
directory=%(here)s/work
environment=IMPORT_VALUE="sup-%(process_num)s,%(ENV_IMPORT_VALUE)s"
stopsignal=TERM
stopwaitsecs=5
`,
      );
      const found = await importAndRun('supervisord', source, 2);
      expect(found).toEqual([0, 1].map((n) => ({ pid: expect.any(Number), cwd: path.join(dir, 'work'), args: ['first arg', String(n)], value: `sup-${n},from-the-shell` })));
    });

    it('runs a PM2 app, instances of it, with its cwd, args and env_production', async () => {
      const source = write(
        'ecosystem.config.js',
        `module.exports = {
  apps: [{
    name: 'rec',
    script: 'record.sh',
    cwd: 'work',
    args: '"first arg" second',
    instances: 2,
    kill_timeout: 5000,
    env: { RECORD_DIR: ${JSON.stringify(path.join(dir, 'records', 'pm2'))}, IMPORT_VALUE: 'dev' },
    env_production: { IMPORT_VALUE: process.env.IMPORT_VALUE + '-prod' },
  }],
};
`,
      );
      const found = await importAndRun('pm2', source, 2, '--env', 'production');
      // PM2 runs a .sh script with bash; its instances differ by NODE_APP_INSTANCE only.
      expect(found).toEqual([0, 1].map(() => ({ pid: expect.any(Number), cwd: path.join(dir, 'work'), args: ['first arg', 'second'], value: 'from-the-shell-prod' })));
    });

    it('runs a process-compose process, replicas of it, through bash -c in its working_dir, after its dependency completed', async () => {
      const source = write(
        'process-compose.yaml',
        `environment:
  - 'RECORD_DIR=${path.join(dir, 'records', 'process-compose')}'
processes:
  first:
    command: "true"
  rec:
    depends_on:
      first:
        condition: process_completed_successfully
    command: ./record.sh "first arg" "\${IMPORT_VALUE}" $$PC_REPLICA_NUM
    working_dir: work
    replicas: 2
    environment:
      - 'IMPORT_VALUE=pc'
    shutdown:
      signal: 15
      timeout_seconds: 5
`,
      );
      const found = await importAndRun('process-compose', source, 2);
      // \${IMPORT_VALUE} is substituted by the import from its environment, as process-compose
      // does when it loads the file; $$PC_REPLICA_NUM is left to bash, which gets the service's.
      expect(found.map((record) => record.args).sort()).toEqual([
        ['first arg', 'from-the-shell', '0'],
        ['first arg', 'from-the-shell', '1'],
      ]);
      for (const record of found) expect(record).toMatchObject({ cwd: path.join(dir, 'work'), value: 'pc' });
    });
  });
});
