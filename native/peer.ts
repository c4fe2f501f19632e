// Who is on the other end of a unix socket: the API authenticates callers with this.
import type net from 'node:net';
import type { RawErrnoError } from './binding.js';
import { binding } from './load.js';
import { SystemError } from './errors.js';
import { ProcessRef } from './process-ref.js';

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
  try {
    const raw = binding.peerCredentials(fd);
    return { pid: raw.pid, uid: raw.uid, gid: raw.gid, process: raw.handle === null ? null : new ProcessRef(raw.handle, { watch: false }) };
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
}
