// Where the restart bench finds its sources and writes what it makes (bench/.out/restart/, gitignored).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../api/paths.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export const outDir = path.join(repoRoot, 'bench', '.out', 'restart');
export const stampSource = path.join(repoRoot, 'bench', 'restart', 'stamp.c');
export const stampProgram = path.join(outDir, 'stamp');
export const entry = { pm2Driver: path.join(here, 'pm2-driver.js') } as const;
