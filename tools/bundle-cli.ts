// Bundles the CLI (dist/api/cli/main.js, everything it imports, npm packages included) into
// dist/cli-bundle/, after tsc. Node 20's ES module loader pays per file: resolution (stats,
// package.json reads, realpath), a read, a compile and a link; `pidvisor init --config` loaded
// about 240 files (our ~100, yaml's 73 CommonJS files, pino's 30) and spent more CPU in the
// loader than in the modules. One file per chunk instead: code split at every dynamic import,
// so what a command does not load (fastify and the API, TypeBox's error path, other commands)
// stays in chunks it never reads. bin/pidvisor.ts runs `init` from here (see there).
// Source maps chain to the TypeScript sources through tsc's own maps (`node --enable-source-maps`).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE_DIR = path.join(dist, 'cli-bundle');

/** Which modules (paths relative to the repository) each chunk holds: tests and bench/init read it. */
export const INPUTS_FILE = 'inputs.json';

export async function bundleCli(): Promise<void> {
  fs.rmSync(BUNDLE_DIR, { recursive: true, force: true });
  const result = await build({
    entryPoints: { main: path.join(dist, 'api/cli/main.js') },
    outdir: BUNDLE_DIR,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    // The CommonJS packages bundled (yaml, pino) require Node's builtins: an ES module has no
    // `require`, so each chunk gets one.
    banner: { js: "import { createRequire as __pidvisorCreateRequire } from 'node:module';\nconst require = __pidvisorCreateRequire(import.meta.url);" },
  });
  const repo = path.dirname(dist);
  const inputs: Record<string, string[]> = {};
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    if (!file.endsWith('.js')) continue;
    inputs[path.basename(file)] = Object.keys(output.inputs).map((input) => path.relative(repo, path.resolve(input)));
  }
  fs.writeFileSync(path.join(BUNDLE_DIR, INPUTS_FILE), `${JSON.stringify(inputs, null, 1)}\n`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await bundleCli();
