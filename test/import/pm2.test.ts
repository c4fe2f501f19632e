// `pidvisor import` of PM2 ecosystem files, checked against PM2 itself: the npm package pm2
// (a devDependency) resolves the same files with its own code (lib/Common.js, through
// test/fixtures/import/pm2-resolve.cjs, without starting its daemon), and each app must come
// out of the import with the command, working directory and environment PM2 would fork with.
// The files are PM2's own templates (what `pm2 init` writes) and hand-written edge cases.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPm2 } from '../../import/pm2/import.js';
import { ImportError } from '../../import/result.js';

const RESOLVE = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/import/pm2-resolve.cjs');
const PM2_TEMPLATES = path.join(path.dirname(createRequire(import.meta.url).resolve('pm2/package.json')), 'lib/templates');

interface Pm2App {
  name: string;
  interpreter: string;
  interpreterArgs: string[];
  execPath: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  instances?: number;
}

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-import-pm2-'));
  fs.mkdirSync(path.join(dir, 'home'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

/** What PM2 would fork each app with, run in `dir` as `pm2 start FILE [--env NAME]` would be. */
function pm2Resolves(file: string, envName?: string): Pm2App[] {
  const output = execFileSync(process.execPath, [RESOLVE, file, ...(envName === undefined ? [] : [envName])], {
    cwd: dir,
    encoding: 'utf8',
    // PM2's modules compute their home from HOME; nothing is written there, but not in ours.
    env: { ...process.env, HOME: path.join(dir, 'home'), PM2_HOME: path.join(dir, 'home', '.pm2') },
  });
  return JSON.parse(output.trim().split('\n').at(-1)!) as Pm2App[];
}

/**
 * Each app PM2 resolves is a service (one per instance, named NAME-N when there are several)
 * with the same argv, cwd and environment, plus the instance number PM2 gives each instance.
 */
function expectSameAsPm2(file: string, envName?: string): ReturnType<typeof importPm2> {
  const apps = pm2Resolves(file, envName).flatMap((app) => {
    const count = app.instances ?? 1;
    return Array.from({ length: count }, (_, instance) => ({ ...app, name: count > 1 ? `${app.name}-${instance}` : app.name, env: { ...app.env, NODE_APP_INSTANCE: String(instance) } }));
  });
  const result = importPm2(file, { cwd: dir, ...(envName === undefined ? {} : { envName }) });
  expect(result.services.map((s) => s.name)).toEqual(apps.map((app) => app.name));
  apps.forEach((app, index) => {
    const { spec } = result.services[index]!;
    const argv = app.interpreter === 'none' ? [app.execPath, ...app.args] : [app.interpreter, ...app.interpreterArgs, app.execPath, ...app.args];
    expect(spec.command, app.name).toEqual(argv);
    expect(spec.cwd, app.name).toBe(app.cwd);
    expect(spec.env, app.name).toEqual(app.env);
  });
  return result;
}

describe('PM2 import', () => {
  it("reads PM2's own ecosystem templates as PM2 does, CommonJS and ES module alike", () => {
    write('index.js', 'setInterval(() => {}, 1000);\n');
    write('app.js', 'setInterval(() => {}, 1000);\n');
    write('service-worker/index.js', 'setInterval(() => {}, 1000);\n');
    const full = write('full/ecosystem.config.js', fs.readFileSync(path.join(PM2_TEMPLATES, 'ecosystem.tpl'), 'utf8'));
    const simple = write('simple/ecosystem.config.js', fs.readFileSync(path.join(PM2_TEMPLATES, 'ecosystem-simple.tpl'), 'utf8'));
    const result = expectSameAsPm2(full);
    expect(result.services.map((s) => s.name)).toEqual(['index', 'service-worker']);
    expect(result.notes.map((note) => `${note.entry} ${note.setting}`)).toEqual(['deploy deploy', 'apps[0] (index) watch', 'apps[1] (service-worker) watch']);
    expect(expectSameAsPm2(simple).services.map((s) => s.name)).toEqual(['app1']);

    // `pm2 init` in an ES module project writes these; PM2 loads them with import().
    const fullEs = write('full-es/ecosystem.config.mjs', fs.readFileSync(path.join(PM2_TEMPLATES, 'ecosystem-es.tpl'), 'utf8'));
    const simpleEs = write('simple-es/ecosystem.config.mjs', fs.readFileSync(path.join(PM2_TEMPLATES, 'ecosystem-simple-es.tpl'), 'utf8'));
    expect(importPm2(fullEs, { cwd: dir }).services).toEqual(result.services.map((s) => ({ ...s, comments: [s.comments[0]!.replace(full, fullEs)] })));
    expect(importPm2(simpleEs, { cwd: dir }).services.map((s) => s.spec.command)).toEqual([['node', path.join(dir, 'app.js')]]);
  });

  it('reads the edge cases as PM2 does: JSON evaluated as JavaScript, aliases, args strings, shell commands, --env, instances', () => {
    write('api/server.js', 'setInterval(() => {}, 1000);\n');
    write('tool.py', 'print(1)\n');
    const file = write(
      'edge/apps.json',
      `// PM2 evaluates a .json ecosystem as a JavaScript expression: comments and bare keys pass
{
  apps: [
    {
      name: 'api',
      script: 'server.js',
      cwd: 'api',
      args: '--port 8080 --title "my api" --flag=\\'x y\\'',
      node_args: ['--max-old-space-size=128'],
      env: { NODE_ENV: 'development', SHARED: 'base', NESTED: { a: 1 } },
      env_production: { NODE_ENV: 'production', EXTRA: 42 },
      instances: 3,
      exec_mode: 'cluster',
      maxRestarts: 4,
      minUptime: '2s',
      killTimeout: 3000,
      stop_exit_codes: [0, 3],
      exp_backoff_restart_delay: 100,
      out_file: '/dev/null',
      watch: true,
      treekill: false,
      namespace: 'backend',
      port: 8080,
      foo: 'not an option',
      maxMemoryRestart: '200M',
      waitReady: true,
      listen_timeout: 8000,
    },
    { script: 'tool.py', interpreter: 'python3', autorestart: false, autostart: false },
    { name: 'npm-start', script: 'npm run start -- --verbose', restart_delay: 500 },
    { script: 'sleep', args: ['1000'], interpreter: 'none', uid: 'root' },
  ],
}
`,
    );
    const result = expectSameAsPm2(file, 'production');
    const [api0, , , tool, npm, sleep] = result.services;
    expect(result.services.map((s) => s.name)).toEqual(['api-0', 'api-1', 'api-2', 'tool', 'npm-start', 'sleep']);
    expect(api0!.spec.env).toMatchObject({ NODE_ENV: 'production', SHARED: 'base', NESTED: '{"a":1}', EXTRA: '42', PORT: '8080', NODE_APP_INSTANCE: '0' });
    expect(result.services[2]!.spec.env!.NODE_APP_INSTANCE).toBe('2');
    expect(api0!.spec).toMatchObject({
      stdout: 'null',
      startGraceMs: 2000,
      stopSignal: 'SIGINT',
      stopTimeoutMs: 3000,
      killMode: 'process',
      labels: { namespace: 'backend' },
      restart: { policy: 'on-failure', successCodes: [0, 3], initialDelayMs: 100, multiplier: 1.5, maxDelayMs: 15_000, resetAfterMs: 30_000, maxRestarts: 4, windowMs: 8000 },
    });
    expect(tool!.spec).toMatchObject({ command: ['python3', path.join(dir, 'tool.py')], restart: { policy: 'no' }, autostart: false });
    expect(npm!.spec.command.slice(1)).toEqual(['-c', 'npm run start -- --verbose']);
    expect(npm!.spec.restart).toMatchObject({ policy: 'always', initialDelayMs: 500, multiplier: 1, maxDelayMs: 500, maxRestarts: 16, windowMs: 16_000 });
    expect(sleep!.spec).toMatchObject({ command: [expect.stringMatching(/\/sleep$/u), '1000'], user: 'root' });
    const notes = result.notes.map((note) => `${note.kind} ${note.entry} ${note.setting}`);
    expect(notes).toEqual(
      expect.arrayContaining(['unmapped apps[0] (api) foo', 'unmapped apps[0] (api) watch', 'unmapped apps[0] (api) maxMemoryRestart', 'approximated apps[0] (api) exec_mode']),
    );
    expect(result.notes.find((note) => note.setting === 'maxMemoryRestart')!.reason).toMatch(/memory/u);
    // PM2 has no probes: its wait_ready is a message on Node's IPC channel, which pidvisor does not give.
    expect(notes).toEqual(expect.arrayContaining(['unmapped apps[0] (api) waitReady', 'unmapped apps[0] (api) listen_timeout']));
    expect(result.notes.find((note) => note.setting === 'waitReady')!.reason).toMatch(/process\.send\('ready'\) on Node's IPC channel.*add `readiness` by hand/u);
    expect(notes.some((note) => note.includes('out_file'))).toBe(false);

    // Without --env, env_production is left out and reported.
    const plain = importPm2(file, { cwd: dir });
    expect(plain.services[0]!.spec.env!.NODE_ENV).toBe('development');
    expect(plain.notes.map((note) => `${note.entry} ${note.setting}`)).toContain('apps[0] (api) env_production');
  });

  it('reads a YAML ecosystem file', () => {
    const file = write('yaml/ecosystem.yml', 'apps:\n  - name: worker\n    script: app.js\n    env:\n      QUEUE: jobs\n');
    const result = expectSameAsPm2(file);
    expect(result.services[0]!.spec.env).toEqual({ QUEUE: 'jobs', NODE_APP_INSTANCE: '0' });
  });

  it('refuses what PM2 refuses, with the error of the file itself', () => {
    const broken = write('broken/ecosystem.config.js', "module.exports = { apps: [{ name: 'x', script: 'app.js' }\n");
    expect(() => importPm2(broken, { cwd: dir })).toThrow(ImportError);
    expect(() => importPm2(broken, { cwd: dir })).toThrow(/SyntaxError/u);
    const throwing = write('throwing/ecosystem.config.js', "throw new Error('no config for this host');\n");
    expect(() => importPm2(throwing, { cwd: dir })).toThrow(/no config for this host/u);
    const noScript = write('noscript/ecosystem.config.js', "module.exports = { apps: [{ name: 'x' }] };\n");
    expect(() => importPm2(noScript, { cwd: dir })).toThrow(/No script path/u);
    expect(() => importPm2(write('other/apps.txt', '{}'), { cwd: dir })).toThrow(/PM2 reads only/u);
  });
});
