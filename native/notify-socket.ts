// The sd_notify socket as the daemon holds it: a unix datagram socket watched in the event
// loop, whose datagrams come with the sender's credentials as the kernel vouches for them
// (SO_PASSCRED; SO_PASSPIDFD on Linux 6.5 gives the sender's cgroup even after it exited),
// and the pidfds a MAINPIDFD=1 passes, held as ProcessRefs. Node has no unix datagram
// sockets: the addon binds and receives (native/src/notify_socket.cc), never blocking.
import fs from 'node:fs';
import type { RawChannelWatcher, RawErrnoError } from './binding.js';
import { SystemError } from './errors.js';
import { binding } from './load.js';
import { ProcessRef, START_WATCH } from './process-ref.js';
import { OP_PIDFD } from './raw-keys.js';

export interface NotifyDatagram {
  /** The bytes, at most the receive limit. */
  message: Buffer;
  /** The datagram was longer than the limit (or its control data was cut). */
  truncated: boolean;
  /** SCM_CREDENTIALS; pid 0 when the datagram came without them. */
  pid: number;
  uid: number;
  gid: number;
  /** fds passed with SCM_RIGHTS (CLOEXEC): the receiver owns them and must close or hold each. */
  fds: number[];
  /** The sender's cgroup v2 id through its SCM_PIDFD (0n where the kernel cannot say). */
  senderCgroupId: bigint;
}

export class NotifySocket {
  readonly path: string;
  #fd: number;
  #watcher: RawChannelWatcher | null = null;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Binds a new socket at `path` (a stale socket file left there by a daemon that died is
   * replaced: the state-dir lock says none is alive) with file mode `mode`.
   */
  static bind(path: string, mode: number): NotifySocket {
    try {
      if (fs.lstatSync(path).isSocket()) fs.unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    let fd: number;
    try {
      fd = binding.notifySocketBind(path);
    } catch (error) {
      throw SystemError.from(error as RawErrnoError);
    }
    const socket = new NotifySocket(path, fd);
    try {
      fs.chmodSync(path, mode);
    } catch (error) {
      socket.close();
      throw error;
    }
    return socket;
  }

  /** Calls `onReadable` while datagrams wait (level-triggered: read until receive() is null, or yield and be called again). */
  watch(onReadable: () => void): void {
    if (this.#fd < 0 || this.#watcher !== null) return;
    this.#watcher = new binding.ChannelWatcher(this.#fd, (readable) => {
      if (readable) onReadable();
    });
  }

  /** One datagram, or null when none waits. */
  receive(maxBytes: number): NotifyDatagram | null {
    if (this.#fd < 0) return null;
    let raw;
    try {
      raw = binding.notifyReceive(this.#fd, maxBytes);
    } catch (error) {
      throw SystemError.from(error as RawErrnoError);
    }
    if (raw === null) return null;
    const [message, truncated, pid, uid, gid, fds, senderCgroupId] = raw;
    return { message, truncated, pid, uid, gid, fds, senderCgroupId };
  }

  /** Stops watching, closes the socket and removes its file; idempotent. */
  close(options: { unlink?: boolean } = {}): void {
    this.#watcher?.close();
    this.#watcher = null;
    if (this.#fd < 0) return;
    binding.closeFd(this.#fd);
    this.#fd = -1;
    if (options.unlink ?? true) fs.rmSync(this.path, { force: true });
  }
}

/** Closes fds received with a datagram that are not kept. */
export function closeReceivedFds(fds: readonly number[]): void {
  for (const fd of fds) binding.closeFd(fd);
}

/**
 * Takes ownership of a pidfd received with MAINPIDFD=1 and holds its process, watched; null
 * (the fd closed) when the fd is not a pidfd or its process has already been reaped.
 */
export function holdReceivedPidfd(fd: number): ProcessRef | null {
  let pid = -1;
  try {
    const match = /^Pid:\s*(-?\d+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    pid = match === null ? -1 : Number(match[1]);
  } catch {
    pid = -1;
  }
  if (pid <= 0) {
    binding.closeFd(fd);
    return null;
  }
  const ref = new ProcessRef(OP_PIDFD, fd, pid);
  try {
    ref[START_WATCH]();
  } catch (error) {
    ref.close();
    throw SystemError.from(error as RawErrnoError);
  }
  return ref;
}
