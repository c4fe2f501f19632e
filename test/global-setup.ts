// The API's schemas as plain objects (api/server/schemas.generated.ts, not in git: the runtime
// modules import it, so it is written first; tools/generate-schemas.ts). Fixtures that run in
// other processes (workers, unprivileged children, PID namespaces) import the compiled layer
// from dist/, so build it once before any test file runs; then the
// bundle of the CLI that `pidvisor init` runs from (tools/bundle-cli.ts: a bundle older than
// tsc's output is not used, so without this init tests would run tsc's output instead).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const tsc = (project: string): void => {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', project], { cwd: root, stdio: 'inherit' });
  };
  tsc('tsconfig.schemas.json');
  execFileSync(process.execPath, [path.join(root, 'dist/tools/generate-schemas.js')], { cwd: root, stdio: 'inherit' });
  tsc('tsconfig.build.json');
  execFileSync(process.execPath, [path.join(root, 'dist/tools/bundle-cli.js')], { cwd: root, stdio: 'inherit' });
}
