// Clean-up of a test daemon's cgroup subtree when the test itself ended the daemon without a
// clean stop (SIGKILL, a refused start): nothing else would remove it. Processes in it must
// have been killed by the test first; this only waits (bounded) for the cgroups to empty.
import fs from 'node:fs';
import path from 'node:path';
import { capabilities } from '../../native/index.js';
import { pollUntil } from './proc.js';

/** Removes `<cgroup v2 mount>/<name>` and the cgroups in it once they are empty; no-op when absent. */
export async function removeCgroupSubtree(name: string): Promise<void> {
  const mount = capabilities().cgroup2Mount;
  if (mount === null) return;
  await removeTree(path.join(mount, name));
}

async function removeTree(dir: string): Promise<void> {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await removeTree(path.join(dir, entry.name));
  }
  await pollUntil(() => !/^populated 1$/m.test(fs.readFileSync(path.join(dir, 'cgroup.events'), 'utf8')), 10_000);
  fs.rmdirSync(dir);
}
