// Who is on the other end of a unix socket: the API authenticates callers with this.
import type net from 'node:net';
import type { RawErrnoError } from './binding.js';
import { binding } from './load.js';
import { SystemError } from './errors.js';
import { capabilities } from './capabilities.js';
import { ProcessRef } from './process-ref.js';
import { OP_PEER } from './raw-keys.js';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
  /** The peer process by pidfd (SO_PEERPIDFD, Linux 6.5), or null on older kernels. Close it when done. */
  process: ProcessRef | null;
}

export function peerCredentials(socket: net.Socket): PeerCredentials {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) throw new TypeError('peerCredentials needs a connected unix socket');
  let raw: ReturnType<typeof binding.peerCredentials>;
  try {
    raw = binding.peerCredentials(fd);
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
  return { pid: raw.pid, uid: raw.uid, gid: raw.gid, process: peerProcess(fd, raw.pid) };
}

// The peer by pidfd (SO_PEERPIDFD, Linux 6.5); null where the kernel cannot name it, as the
// numbers above still identify the caller.
function peerProcess(socketFd: number, pid: number): ProcessRef | null {
  if (!capabilities().features.soPeerPidfd.ok) return null;
  try {
    return new ProcessRef(OP_PEER, socketFd, pid);
  } catch {
    return null;
  }
}
