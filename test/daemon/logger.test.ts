// The daemon's log: environment values never written, and buffered lines never lost on a
// normal exit or held back from a quiet daemon. Each case runs createLogger() in a fresh node
// (dist/ is built by the test setup) and reads what reached its stderr.
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const logger = new URL('../../dist/daemon/logger.js', import.meta.url).href;
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
