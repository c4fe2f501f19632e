// Where the daemon keeps its state and its socket when nobody says otherwise: the system
// locations for root, the XDG ones for everyone else.
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
