// The daemon's log: environment values never written, and buffered lines never lost on a
// normal exit or held back from a quiet daemon; init's lazy logger, which loads pino only at
// the first line at or above its level. Each case runs createLogger() or createLazyLogger() in
// a fresh node (dist/ is built by the test setup) and reads what reached its stderr.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const logger = new URL('../../dist/daemon/logger.js', import.meta.url).href;
const LOGGER = fileURLToPath(logger);
const preamble = `const { createLogger } = await import(${JSON.stringify(logger)}); const log = createLogger();`;

function stderrOf(body: string, expected: { status: number | null; signal: NodeJS.Signals | null } = { status: 0, signal: null }): string {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', `${preamble}\n${body}`], { encoding: 'utf8', timeout: 30_000 });
  expect({ status: result.status, signal: result.signal }, result.stderr).toEqual(expected);
  return result.stderr;
}

describe('the daemon log', () => {
  it('replaces env at the top of a record and one level down, and keeps the rest', () => {
    const out = stderrOf(`
      log.info({ env: { TOKEN: 'secret-1' } }, 'top');
      log.info({ spec: { command: ['x'], env: { TOKEN: 'secret-2' } } }, 'spec');
      log.child({ service: 'web' }).info({ definition: { env: { TOKEN: 'secret-3' }, name: 'web' } }, 'definition');
      log.info({ pid: 42 }, 'plain');
    `);
    expect(out).not.toMatch(/secret-/);
    const lines = out.trim().split('\n').map((line) => JSON.parse(line) as Record<string, any>);
    expect(lines.map((line) => line.msg)).toEqual(['top', 'spec', 'definition', 'plain']);
    expect(lines[0]!.env).toBe('[redacted]');
    expect(lines[1]!.spec).toEqual({ command: ['x'], env: '[redacted]' });
    expect(lines[2]).toMatchObject({ service: 'web', definition: { env: '[redacted]', name: 'web' } });
    expect(lines[3]!.pid).toBe(42);
  });

  it('writes what it gathered when the process exits, and a fatal error at once', () => {
    const out = stderrOf(`log.info('first'); log.warn('second');`);
    expect(out).toMatch(/"msg":"first"[^\n]*\n[^\n]*"msg":"second"/);
    // Killed right after: no exit handler runs, so only an immediate write gets it out.
    const fatal = stderrOf(`log.info('before'); log.fatal({ err: new Error('boom') }, 'failed to start'); process.kill(process.pid, 'SIGKILL');`, { status: null, signal: 'SIGKILL' });
    expect(fatal).toMatch(/"msg":"before"/);
    expect(fatal).toMatch(/"message":"boom".*"msg":"failed to start"/);
  });

  it('writes the last lines of a quiet daemon within a fraction of a second, before any exit', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', `${preamble}\nlog.info('quiet'); setTimeout(() => {}, 10_000);`], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const seen = await new Promise<string>((resolve, reject) => {
        let text = '';
        const timer = setTimeout(() => reject(new Error(`not written within 3 s: ${JSON.stringify(text)}`)), 3000);
        child.stderr.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes('"msg":"quiet"')) {
            clearTimeout(timer);
            resolve(text);
          }
        });
      });
      expect(seen).toMatch(/"msg":"quiet"/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

interface Line {
  level: number;
  msg: string;
  service?: string;
  n?: number;
  env?: unknown;
}

/** Runs `body` in a fresh node with `logger` = createLazyLogger(level); prints whether pino was loaded at each `loaded()`. */
function run(level: string, body: string): { stdout: string; lines: Line[]; status: number | null; stderr: string } {
  const script = `
    import { createRequire } from 'node:module';
    import { createLazyLogger } from ${JSON.stringify(LOGGER)};
    const require = createRequire(${JSON.stringify(LOGGER)});
    const loaded = () => console.log(Object.keys(require.cache).some((file) => file.includes('/node_modules/pino/')));
    const logger = createLazyLogger(${JSON.stringify(level)});
    ${body}`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  const lines = result.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Line);
  return { stdout: result.stdout, lines, status: result.status, stderr: result.stderr };
}

describe('createLazyLogger', () => {
  it('loads pino at the first line at or above its level, not before', () => {
    const result = run('warn', `
      const child = logger.child({ service: 'web' });
      logger.info('dropped'); child.debug('dropped'); loaded();
      child.warn({ n: 1, env: { SECRET: 'x' } }, 'kept'); loaded();
      logger.info('dropped'); logger.error('also kept');`);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('false\ntrue\n');
    expect(result.lines.map((line) => [line.level, line.msg, line.service, line.n])).toEqual([
      [40, 'kept', 'web', 1],
      [50, 'also kept', undefined, undefined],
    ]);
    // createLogger's own rules hold: the environment is never written.
    expect(result.lines[0]!.env).toBe('[redacted]');
  });

  it('writes every line at debug, and none when silent', () => {
    const debug = run('debug', `logger.trace('no'); logger.debug('yes'); logger.child({ service: 'a' }).fatal('last');`);
    expect(debug.lines.map((line) => line.msg)).toEqual(['yes', 'last']);
    const silent = run('silent', `logger.fatal('no'); logger.child({ service: 'a' }).error('no'); loaded();`);
    expect(silent.lines).toEqual([]);
    expect(silent.stdout).toBe('false\n');
  });

  it('refuses an unknown level at once, as pino would', () => {
    const result = run('loud', '');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/unknown log level "loud"/);
  });
});
