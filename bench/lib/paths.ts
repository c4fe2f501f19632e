// Where the benchmark's sources and outputs live. The compiled files run from dist/bench/,
// the C sources stay in bench/c/, and everything the bench builds or writes goes to
// bench/.out/ (gitignored).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function findRepoRoot(): string {
  let dir = here;
  for (let depth = 0; depth < 6; depth++) {
    if (fs.existsSync(path.join(dir, 'bench', 'c')) && fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`bench: cannot find the repository root (with bench/c/) above ${here}`);
}

export const repoRoot = findRepoRoot();
export const cSourceDir = path.join(repoRoot, 'bench', 'c');
export const outDir = path.join(repoRoot, 'bench', '.out');

/** The C programs the bench compiles, by name; each is bench/c/<name>.c -> bench/.out/<name>. */
export const C_PROGRAMS = ['posix-spawn-loop', 'pidfd-epoll-latency', 'exit-stamp', 'block'] as const;
export type CProgram = (typeof C_PROGRAMS)[number];

export function programPath(name: CProgram): string {
  return path.join(outDir, name);
}
