// `pidvisor/client` as a program using the package imports it: through package.json's
// `exports` (here by self-reference, as from node_modules), with its types emitted, and
// without loading the daemon's side (fastify, the native addon).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

describe('package export pidvisor/client', () => {
  it('resolves to the built client and its declarations, and loads neither fastify nor the addon', async () => {
    const exported = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }> }).exports['./client']!;
    expect(fs.existsSync(path.join(root, exported.types))).toBe(true);
    expect(fs.existsSync(path.join(root, exported.default))).toBe(true);
    const program = `
      import { createRequire } from 'node:module';
      const client = await import('pidvisor/client');
      const loaded = Object.keys(createRequire(process.cwd() + '/').cache);
      console.log(JSON.stringify({
        exports: Object.keys(client).sort(),
        fastify: loaded.some((file) => file.includes('/node_modules/fastify/')),
        addon: loaded.some((file) => file.endsWith('.node')),
      }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', program], { cwd: root });
    expect(JSON.parse(stdout)).toEqual({
      exports: ['ApiError', 'ConnectionLostError', 'DEFAULT_RETRY', 'InsecureUrlError', 'PidvisorClient', 'UnreachableError', 'isProblem'],
      fastify: false,
      addon: false,
    });
  });
});
