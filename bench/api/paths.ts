// Where the API benchmark finds the daemon and writes what it makes. It runs compiled from
// dist/bench/api/; everything it writes (results, daemon logs, the peers' installs) goes to
// bench/.out/api/, which .gitignore's `bench/.out/` covers.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function findRepoRoot(): string {
  let dir = here;
  for (let depth = 0; depth < 6; depth++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench', 'api'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`bench/api: cannot find the repository root (with bench/api/) above ${here}`);
}

export const repoRoot = findRepoRoot();
/** The compiled bench (this directory, as run). */
export const benchDistDir = here;
export const outDir = path.join(repoRoot, 'bench', '.out', 'api');
/** npm --prefix of the peers installed at bench time (pm2). */
export const peersDir = path.join(outDir, 'peers');
/** The stock daemon, as a user runs it. */
export const pidvisorBin = path.join(repoRoot, 'dist', 'bin', 'pidvisor.js');
/** Compiled entry points of the processes the bench starts. */
export const entry = {
  daemonHost: path.join(here, 'daemon-host.js'),
  bareServer: path.join(here, 'bare-server.js'),
  pm2Driver: path.join(here, 'pm2-driver.js'),
} as const;
