// Which modules the Node init loads when services are asked for (`pidvisor init --config
// EMPTY -- /bin/true`, without the keeper so that the Node process is the init and reaches its
// exit hook; `init -- cmd` alone loads no module: it is the keeper's native init): run it once
// with preload.js, which logs the ESM loader's modules and, at exit, require.cache; then group
// the files by package.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDir, pidvisorCli, repoRoot, servicesArgs, settings } from '../config.js';

export interface PackageModules {
  /** "fastify", "@sinclair/typebox", "pidvisor dist/daemon", "node: builtins". */
  name: string;
  files: number;
  bytes: number;
}

export interface Inventory {
  argv: string[];
  ok: boolean;
  detail: string | null;
  totalFiles: number;
  totalBytes: number;
  builtins: number;
  packages: PackageModules[];
  /** Every file loaded, relative to the repository. */
  files: string[];
}

/** The package a loaded file belongs to. */
export function packageOf(file: string): string {
  const relative = path.relative(repoRoot, file);
  const parts = relative.split(path.sep);
  const nm = parts.lastIndexOf('node_modules');
  if (nm >= 0) return parts[nm + 1]?.startsWith('@') === true ? `${parts[nm + 1]}/${parts[nm + 2]}` : parts[nm + 1]!;
  if (parts[0] === 'dist') return `pidvisor dist/${parts.length > 2 ? parts[1] : ''}`;
  if (parts[0] === 'build') return 'pidvisor addon (build/)';
  return relative.startsWith('..') ? file : relative;
}

export function takeInventory(): Inventory {
  const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-bench-modules-')), 'modules.log');
  const argv = [process.execPath, '--import', path.join(benchDir, 'imports', 'preload.js'), pidvisorCli, 'init', ...servicesArgs(), '--', '/bin/true'];
  try {
    const result = spawnSync(argv[0]!, argv.slice(1), {
      cwd: repoRoot,
      env: { ...process.env, BENCH_INIT_MODULE_LOG: log, PIDVISOR_KEEPER: 'off' },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: settings.timeoutMs,
      killSignal: 'SIGKILL',
    });
    const ok = result.status === 0;
    const lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n') : [];
    const files = new Set<string>();
    const builtins = new Set<string>();
    for (const line of lines) {
      const [kind, ...rest] = line.split(' ');
      const where = rest.join(' ');
      if (kind === 'builtin') builtins.add(`node:${where}`);
      else if (kind === 'esm' && where.startsWith('file:')) files.add(fileURLToPath(where));
      else if (kind === 'cjs' && path.isAbsolute(where)) files.add(where);
    }
    // Leave out the bench's own preload.js and hooks.js.
    const ours = [...files].filter((file) => path.relative(benchDir, file).startsWith('..'));
    const byPackage = new Map<string, PackageModules>();
    let totalBytes = 0;
    for (const file of ours) {
      const name = packageOf(file);
      const bytes = fs.existsSync(file) ? fs.statSync(file).size : 0;
      totalBytes += bytes;
      const entry = byPackage.get(name) ?? { name, files: 0, bytes: 0 };
      entry.files += 1;
      entry.bytes += bytes;
      byPackage.set(name, entry);
    }
    return {
      argv,
      ok,
      detail: ok ? null : `status ${result.status} ${result.error?.message ?? ''}: ${result.stderr?.toString().slice(0, 500) ?? ''}`,
      totalFiles: ours.length,
      totalBytes,
      builtins: builtins.size,
      packages: [...byPackage.values()].sort((a, b) => b.bytes - a.bytes),
      files: ours.map((file) => path.relative(repoRoot, file)).sort(),
    };
  } finally {
    fs.rmSync(path.dirname(log), { recursive: true, force: true });
  }
}
