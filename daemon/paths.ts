// Where the daemon keeps its state and its socket when nobody says otherwise: the system
// locations for root, the XDG ones for everyone else.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const isRoot = (): boolean => process.geteuid?.() === 0;

/** /var/lib/pidvisor for root; $XDG_STATE_HOME/pidvisor (~/.local/state/pidvisor) otherwise. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (isRoot()) return '/var/lib/pidvisor';
  return path.join(env.XDG_STATE_HOME || path.join(os.homedir(), '.local/state'), 'pidvisor');
}

/** $PIDVISOR_SOCKET, else /run/pidvisor/pidvisor.sock for root, else $XDG_RUNTIME_DIR/pidvisor/pidvisor.sock. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PIDVISOR_SOCKET) return env.PIDVISOR_SOCKET;
  if (isRoot() || !env.XDG_RUNTIME_DIR) {
    return isRoot() ? '/run/pidvisor/pidvisor.sock' : path.join(os.tmpdir(), `pidvisor-${process.getuid?.() ?? 0}`, 'pidvisor.sock');
  }
  return path.join(env.XDG_RUNTIME_DIR, 'pidvisor', 'pidvisor.sock');
}

/**
 * The name of a daemon's cgroup subtree under the cgroup v2 mount, derived from its state
 * directory: a readable tail of the path and a hash of the whole real path, such as
 * `pidvisor-var-lib-pidvisor-3f2a9c1e`. Two daemons (which never share a state dir: see
 * state-dir-lock.ts) never share a subtree, and a daemon restarted on the same state dir
 * finds its own again. `stateDir` must exist (symlinks and relative paths are resolved, so
 * every spelling of one directory gives one name).
 */
export function cgroupNameFor(stateDir: string): string {
  const real = fs.realpathSync(stateDir);
  const slug = real.replace(/[^A-Za-z0-9_.]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(-40).replace(/^[-.]+/, '');
  const hash = createHash('sha256').update(real).digest('hex').slice(0, 8);
  return slug === '' ? `pidvisor-${hash}` : `pidvisor-${slug}-${hash}`;
}
