// Where the log-capture bench finds its parts and writes what it makes (bench/.out/logs/,
// gitignored). It runs compiled from dist/bench/logs/.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../api/paths.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export const outDir = path.join(repoRoot, 'bench', '.out', 'logs');
export const entry = {
  pm2Driver: path.join(here, 'pm2-driver.js'),
  pm2Module: path.join(repoRoot, 'node_modules', 'pm2', 'package.json'),
  /** This checkout's compiled Supervisor. */
  supervisor: path.join(repoRoot, 'dist', 'daemon', 'supervisor.js'),
} as const;
