// What `pidvisor init --config` loads (issue 14: with services, start-up close to Node and the
// addon alone), and that the daemon and the other commands run from the bundle too (the
// daemon's memory with 200 services, issue 14). init runs from the bundle of the CLI (tools/bundle-cli.ts: a few chunk files, not
// ~240 modules), unless the bundle is older than tsc's output; a valid config is checked
// without TypeBox (daemon/spec-check.ts); only a refused one loads it, to explain the refusal
// as before. The files are listed by bench/init's preload (module hooks for ES modules,
// require.cache at exit for CommonJS); a chunk stands for the modules it holds
// (dist/cli-bundle/inputs.json).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PIDVISOR_BIN, requestJson, startDaemonProcess } from '../helpers/daemon-process.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PRELOAD = path.join(root, 'dist/bench/init/imports/preload.js');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-init-imports-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

interface InitRun {
  status: number | null;
  stderr: string;
  /** The files loaded ("esm URL" or "cjs PATH" lines of the preload's log). */
  files: string[];
  /** The same, with each chunk of the bundle replaced by the modules it holds (absolute paths). */
  modules: string[];
}

const BUNDLE = path.join(root, 'dist/cli-bundle');
const chunkInputs = JSON.parse(fs.readFileSync(path.join(BUNDLE, 'inputs.json'), 'utf8')) as Record<string, string[]>;

function modulesOf(files: string[]): string[] {
  return files.flatMap((line) => {
    const file = line.replace(/^(esm|cjs) /, '').replace(/^file:\/\//, '');
    const inputs = path.dirname(file) === BUNDLE ? chunkInputs[path.basename(file)] : undefined;
    return inputs === undefined ? [line] : inputs.map((input) => path.join(root, input));
  });
}

/** `pidvisor init --config FILE -- /bin/true` without the keeper (the Node process is the init). */
function runInit(name: string, config: string, env: NodeJS.ProcessEnv = {}, bin = PIDVISOR_BIN): InitRun {
  const dir = fs.mkdtempSync(path.join(scratch, `${name}-`));
  const configFile = path.join(dir, 'services.yaml');
  const log = path.join(dir, 'modules.log');
  fs.writeFileSync(configFile, config);
  const result = spawnSync(process.execPath, ['--import', PRELOAD, bin, 'init', '--config', configFile, '--state-dir', path.join(dir, 'state'), '--', '/bin/true'], {
    env: { ...process.env, PIDVISOR_KEEPER: 'off', BENCH_INIT_MODULE_LOG: log, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    timeout: 60_000,
    killSignal: 'SIGKILL',
  });
  const files = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter((line) => line !== '') : [];
  return { status: result.status, stderr: result.stderr, files, modules: modulesOf(files) };
}

const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
const noCompileCache = major > 22 || (major === 22 && minor >= 1) ? null : `Node ${process.versions.node} has no module.enableCompileCache (22.1 and later)`;

const typeBoxModules = (run: InitRun): string[] => run.modules.filter((line) => line.includes('/node_modules/@sinclair/typebox/'));

const VALID = 'services:\n  idle:\n    command: [/bin/sleep, "60"]\n    restart: { policy: always }\n    stopTimeoutMs: 2000\n';
const fromBundle = (run: InitRun): boolean => run.files.some((line) => line.endsWith('/dist/cli-bundle/main.js'));
const tscModules = (run: InitRun): string[] => run.files.filter((line) => /\/dist\/(daemon|native|api)\//.test(line));

describe('init runs from the bundle of the CLI', () => {
  it('loads chunks of the bundle, not the modules tsc wrote', () => {
    const run = runInit('bundled', VALID);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(fromBundle(run)).toBe(true);
    // The bin itself imports one module before it picks (it closes the inspector first).
    expect(tscModules(run).map((line) => path.relative(root, line.replace(/^esm file:\/\//, '')))).toEqual(['dist/daemon/inspector-signals.js']);
  });

  it('runs tsc\'s output with PIDVISOR_CLI_BUNDLE=off', () => {
    const run = runInit('unbundled', VALID, { PIDVISOR_CLI_BUNDLE: 'off' });
    expect(run.status).toBe(0);
    expect(fromBundle(run)).toBe(false);
    expect(run.files.some((line) => line.endsWith('/dist/daemon/init.js'))).toBe(true);
  });

  // tsc rewrites every file it emits: after `tsc` alone, the bundle is older than the bin and
  // holds yesterday's code. A copy of the bin beside links to the real dist/ tells the two apart.
  it('runs tsc\'s output when the bundle is older than the bin', () => {
    const dist = fs.mkdtempSync(path.join(scratch, 'dist-'));
    for (const dir of ['api', 'daemon', 'native', 'client', 'cli-bundle']) fs.symlinkSync(path.join(root, 'dist', dir), path.join(dist, dir));
    fs.mkdirSync(path.join(dist, 'bin'));
    const bin = path.join(dist, 'bin', 'pidvisor.js');
    fs.copyFileSync(PIDVISOR_BIN, bin);
    const bundleTime = fs.statSync(path.join(BUNDLE, 'main.js')).mtime;
    fs.utimesSync(bin, bundleTime, new Date(bundleTime.getTime() - 1000));
    expect(fromBundle(runInit('bundle-newer', VALID, {}, bin))).toBe(true);
    fs.utimesSync(bin, bundleTime, new Date(bundleTime.getTime() + 1000));
    const stale = runInit('bundle-older', VALID, {}, bin);
    expect(stale.status).toBe(0);
    expect(fromBundle(stale)).toBe(false);
    expect(stale.files.some((line) => line.endsWith('/dist/daemon/init.js'))).toBe(true);
  });
});

describe('the daemon and the other commands run from the bundle too', () => {
  const filesLoaded = (log: string): string[] => fs.readFileSync(log, 'utf8').split('\n').filter((line) => line !== '');

  it('pidvisor daemon', async () => {
    const dir = fs.mkdtempSync(path.join(scratch, 'daemon-'));
    const log = path.join(dir, 'modules.log');
    const socket = path.join(dir, 'api.sock');
    const daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state')], {
      nodeArgs: ['--import', PRELOAD],
      env: { PIDVISOR_KEEPER: 'off', BENCH_INIT_MODULE_LOG: log },
    });
    try {
      await daemon.waitForLog((record) => record.msg === 'api listening', 30_000);
      expect((await requestJson(socket, 'GET', '/v1/processes')).status).toBe(200);
    } finally {
      expect(await daemon.stop('SIGTERM')).toBe(0);
    }
    const files = filesLoaded(log);
    expect(fromBundle({ files } as InitRun)).toBe(true);
    expect(tscModules({ files } as InitRun).map((line) => path.relative(root, line.replace(/^esm file:\/\//, '')))).toEqual(['dist/daemon/inspector-signals.js']);
  });

  it('a client command (pidvisor version)', () => {
    const log = path.join(fs.mkdtempSync(path.join(scratch, 'version-')), 'modules.log');
    const result = spawnSync(process.execPath, ['--import', PRELOAD, PIDVISOR_BIN, 'version'], {
      env: { ...process.env, BENCH_INIT_MODULE_LOG: log },
      encoding: 'utf8',
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+/);
    expect(fromBundle({ files: filesLoaded(log) } as InitRun)).toBe(true);
  });
});

describe('init --config loads only what its path needs', () => {
  it('checks and runs a valid service without loading TypeBox', () => {
    const run = runInit('valid', VALID);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // The log works: it lists the config module and the YAML parser.
    expect(run.modules.some((line) => line.endsWith('/dist/daemon/config.js'))).toBe(true);
    expect(run.modules.some((line) => line.includes('/node_modules/yaml/'))).toBe(true);
    expect(typeBoxModules(run)).toEqual([]);
  });

  it('loads neither pino nor the HTTP client when nothing is logged and no API is asked for', () => {
    const run = runInit('quiet', VALID);
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.modules.filter((line) => line.includes('/node_modules/pino/'))).toEqual([]);
    expect(run.modules.filter((line) => /\/dist\/(client|api\/cli\/client\.js)/.test(line))).toEqual([]);
    // (node:worker_threads cannot be checked here: the preload's module hooks run on a worker.)
    expect(run.files).toContain('builtin crypto'); // the log of builtins works
    expect(run.files.filter((line) => /^builtin (http|https|tls)$/.test(line))).toEqual([]);
  });

  it('loads pino at the first line at its level, and writes the lines', () => {
    const run = runInit('logged', VALID, { PIDVISOR_LOG_LEVEL: 'info' });
    expect(run.status).toBe(0);
    expect(run.modules.some((line) => line.includes('/node_modules/pino/'))).toBe(true);
    const lines = run.stderr.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as { msg: string; service?: string; level: number });
    expect(lines.find((line) => line.msg === 'started')).toMatchObject({ service: 'idle', level: 30 });
    expect(lines.some((line) => line.msg === 'main command started')).toBe(true);
  });

  it('explains a refused service with TypeBox, as before', () => {
    const run = runInit('refused', 'services:\n  idle:\n    command: [/bin/sleep, "60"]\n    stopTimeoutMs: "2000"\n    restart: { policy: sometimes }\n');
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/services\.idle\.stopTimeoutMs: must be an integer from 0 to 3600000, not a string/);
    expect(run.stderr).toMatch(/services\.idle\.restart\.policy: must be one of "no", "on-failure", "always" \(got "sometimes"\)/);
    expect(typeBoxModules(run).length).toBeGreaterThan(0);
  });

  it.skipIf(noCompileCache !== null)(`keeps the compiled code for the next run where Node can (${noCompileCache ?? 'Node >= 22.1'})`, () => {
    const tmp = fs.mkdtempSync(path.join(scratch, 'tmpdir-'));
    const env = { TMPDIR: tmp, NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined };
    const run = runInit('cached', 'services: {}\n', env);
    expect(run.status).toBe(0);
    const cache = path.join(tmp, 'node-compile-cache');
    expect(fs.existsSync(cache) ? fs.readdirSync(cache, { recursive: true }).length : 0).toBeGreaterThan(0);
  });
});
