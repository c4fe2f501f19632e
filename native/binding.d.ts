// The raw primitives of the compiled addon (native/src). Positional and unforgiving: only
// native/load.ts imports the .node file, and only the modules of native/ call these.
import type {
  OP_CLONED,
  OP_OPEN,
  OP_PIDFD,
  OP_PEER,
  OP_SPAWN,
  RAW_CLONE_METHOD,
  RAW_CLOSE,
  RAW_INODE,
  RAW_KILL_AND_REAP,
  RAW_SEND_SIGNAL,
  RAW_WATCH,
} from './raw-keys.js';

/** waitid(2) terms: CLD_EXITED = 1, CLD_KILLED = 2, CLD_DUMPED = 3; 0 when unknown. */
export interface RawExit {
  siCode: number;
  siStatus: number;
  source: 'waitid' | 'pidfd-info' | 'unknown';
  userCpuMicros?: number;
  systemCpuMicros?: number;
  maxRssKiB?: number;
}

/**
 * RawExit as the exit handler receives it: positional, all undefined with an error. `source`
 * comes as a number (ExitSource in process_handle.h: 0 waitid, 1 pidfd-info, 2 unknown), so
 * that an exit costs no string.
 */
export type RawExitFields = [
  siCode?: number,
  siStatus?: number,
  source?: number,
  userCpuMicros?: number,
  systemCpuMicros?: number,
  maxRssKiB?: number,
];

export interface RawErrnoError extends Error {
  errno?: number;
  code?: string;
  syscall?: string;
  stage?: string;
}

/**
 * The native half of every ProcessRef (which extends this class). The raw members are keyed by
 * the symbols of raw-keys.ts.
 */
export interface RawProcessHandle {
  readonly pid: number;
  /** The pidfd, or -1 once reaped or closed. */
  readonly pidfd: number;
  /** fstat(pidfd).st_ino: unique per process for the boot on pidfs (Linux 6.9). */
  readonly [RAW_INODE]: bigint;
  /** The syscall that created a spawned child; null for a handle that was opened. */
  readonly [RAW_CLONE_METHOD]: 'clone3' | 'clone' | null;
  [RAW_SEND_SIGNAL](signal: number, toProcessGroup: boolean): void;
  /**
   * Reports the exit to the environment's exit handler (setExitHandler) once the process has
   * ended, after reaping it when we may. beforeReap, if given, runs when our child has exited
   * but is still a zombie, so its pid and group are pinned.
   */
  [RAW_WATCH](beforeReap?: () => void): void;
  /** Stops watching and closes the pidfd; idempotent. */
  [RAW_CLOSE](): void;
  /**
   * A spawned child only: SIGKILL, reap and close, for a spawn that fails after the clone. Waits
   * at most 250 ms for the child to die; one that has not (uninterruptible sleep) is left,
   * unrecorded, to the orphan reaper.
   */
  [RAW_KILL_AND_REAP](): void;
}

/**
 * `new ProcessHandle(...)`: spawns (throws the errno error of the step that failed, with its
 * `stage`), takes over a child spawnMany cloned, opens a pid (pidfd_open), or takes a unix
 * socket's peer (SO_PEERPIDFD, Linux 6.5).
 */
export type RawHandleArgs =
  | [op: typeof OP_SPAWN, ...request: RawSpawnArgs]
  | [op: typeof OP_CLONED, child: RawClonedChild]
  | [op: typeof OP_OPEN, pid: number]
  | [op: typeof OP_PEER, socketFd: number, pid: number]
  | [op: typeof OP_PIDFD, pidfd: number, pid: number];

/**
 * A RawSpawnRequest as the constructor takes it (its fields in this order, as arguments) and
 * as each entry of spawnMany's list: read by position (RequestField in
 * native/src/spawn_request.h), not looked up by name.
 */
export type RawSpawnArgs = [
  execPaths: RawSpawnRequest['execPaths'],
  argv: RawSpawnRequest['argv'],
  envp: RawSpawnRequest['envp'],
  cwd: RawSpawnRequest['cwd'],
  uid: RawSpawnRequest['uid'],
  gid: RawSpawnRequest['gid'],
  groups: RawSpawnRequest['groups'],
  umask: RawSpawnRequest['umask'],
  rlimits: RawSpawnRequest['rlimits'],
  session: RawSpawnRequest['session'],
  foregroundTty: RawSpawnRequest['foregroundTty'],
  fds: RawSpawnRequest['fds'],
  cgroupFd: RawSpawnRequest['cgroupFd'],
  pdeathsig: RawSpawnRequest['pdeathsig'],
  noNewPrivs: RawSpawnRequest['noNewPrivs'],
  method: RawSpawnRequest['method'],
  ignoredSignals: RawSpawnRequest['ignoredSignals'],
  blockedSignals: RawSpawnRequest['blockedSignals'],
];

declare const clonedChild: unique symbol;
/**
 * A child spawnMany or spawnAsync cloned and the constructor has not yet taken: opaque, taken once. One never
 * taken is killed and reaped when it is collected.
 */
export interface RawClonedChild {
  readonly [clonedChild]: true;
}

export interface RawSpawnRequest {
  execPaths: readonly string[];
  argv: string[];
  /**
   * "NAME=value" entries, each ended by a NUL, in one string (one conversion in the addon
   * instead of one per entry); built from process.env when the caller gave no env.
   */
  envp: string;
  cwd: string | null;
  uid: number;
  gid: number;
  groups: number[] | null;
  umask: number;
  /** Flat triples [resource, soft, hard]; -1 is unlimited. */
  rlimits: number[];
  /** 0 keep, 1 setsid, 2 setpgid(0, 0). */
  session: 0 | 1 | 2;
  /** With session 2: make the new group the foreground group of the terminal on the child's fd 0, if any. */
  foregroundTty: boolean;
  /** Child fd i gets a copy of parent fd fds[i]; -1 leaves it closed. */
  fds: number[];
  cgroupFd: number;
  pdeathsig: number;
  noNewPrivs: boolean;
  /** 0 auto, 1 clone3, 2 legacy clone(CLONE_PIDFD). */
  method: 0 | 1 | 2;
  /** Signals that start ignored in the program, bit n-1 for signal n; 0n: none. */
  ignoredSignals: bigint;
  /** The program's signal mask at execve, bit n-1 for signal n; 0n: none blocked. */
  blockedSignals: bigint;
}

export interface RawProbeEntry {
  ok: boolean;
  code: string | null;
}

export interface RawOrphanSweep {
  /** cgroupId: the cgroup v2 id the orphan died in (0n when the kernel cannot say, before 6.13). */
  reaped: Array<{ pid: number; siCode: number; siStatus: number; cgroupId: bigint }>;
  blockedBy: number;
  blockedOwner: '' | 'pidvisor' | 'libuv';
}

export interface RawBinding {
  ProcessHandle: new (...args: RawHandleArgs) => RawProcessHandle;
  /**
   * Each request as `new ProcessHandle(OP_SPAWN, ...request)` would start it, the clones
   * running on several threads. In input order: the cloned child, for
   * `new ProcessHandle(OP_CLONED, child)`, or the error the constructor would have thrown (not
   * thrown here).
   */
  spawnMany(requests: RawSpawnArgs[]): Array<RawClonedChild | RawErrnoError>;
  /**
   * The request as `new ProcessHandle(OP_SPAWN, ...request)` would start it, cloned on a thread
   * of the addon; the callback comes later, from the event loop, with the cloned child or the
   * error the constructor would have thrown. Every fd the request names must stay open until
   * then. Throws (and calls nothing) for a malformed request or one with a parent-death signal.
   */
  spawnAsync(request: RawSpawnArgs, callback: (error: RawErrnoError | null, child?: RawClonedChild) => void): void;
  makePipe(nonblockingEnd: 0 | 1 | -1): [number, number];
  /** close(2) of an fd makePipe made (fs.closeSync warns for it in a worker thread). */
  closeFd(fd: number): void;
  /** fcntl(F_DUPFD_CLOEXEC): a new fd on the same open file, owned by the caller. */
  dupFd(fd: number): number;
  /** epoll_ctl(EPOLL_CTL_DEL) of `fd` on this environment's libuv loop: libuv is never woken for it again. */
  stopWatchingFd(fd: number): void;
  /** fcntl(F_SETPIPE_SZ): the pipe's capacity becomes at least `bytes`; returns it. */
  setPipeSize(fd: number, bytes: number): number;
  /** Frames the complete short lines of chunk[from..] as records into out; see native/src/log_frame.h. */
  frameLines(chunk: Uint8Array, from: number, maxLineBytes: number, header: Uint8Array, out: Uint8Array, outOffset: number, ends: Int32Array, endsFrom: number): [count: number, stop: 0 | 1 | 2 | 3];
  /** The one function every watched handle reports to: fn.call(handle, error, ...RawExitFields). */
  setExitHandler(handler: (this: RawProcessHandle, error: RawErrnoError | null, ...fields: RawExitFields) => void): void;
  peerCredentials(socketFd: number): { pid: number; uid: number; gid: number };
  /** name_to_handle_at(pidfd, "", AT_EMPTY_PATH): the pidfs file handle (Linux 6.13). */
  pidfsHandle(pidfd: number): { type: number; bytes: Buffer };
  /** open_by_handle_at on pidfs: a new pidfd (CLOEXEC, owned by the caller) and its pid; ESTALE once reaped. */
  openPidfsHandle(type: number, bytes: Buffer): [pidfd: number, pid: number];
  reapOrphans(): RawOrphanSweep;
  setChildSubreaper(on: boolean): void;
  getChildSubreaper(): boolean;
  setParentDeathSignal(signal: number): void;
  ignoreSignal(signal: number): void;
  probeKernel(): Record<string, RawProbeEntry>;
  /** [soft, hard]; -1 is unlimited. */
  getResourceLimit(resource: number): [number, number];
  setResourceLimit(resource: number, soft: number, hard: number): void;
  /** flock(fd, LOCK_EX | LOCK_NB): true when taken, false when another open file holds it. */
  tryLockExclusive(fd: number): boolean;
  // The channel to pidvisor-keeper (native/src/keeper_channel.h; used by native/keeper-*.ts).
  /** One SEQPACKET message with fdToPass (-1: none); MSG_DONTWAIT unless wait. Throws the errno. */
  channelSend(fd: number, message: Uint8Array, fdToPass: number, wait: boolean): void;
  /** One message, its fds (CLOEXEC) and whether it was cut; null when none is waiting. */
  channelReceive(fd: number): [message: Buffer, fds: number[], truncated: boolean] | null;
  /** Blocks every signal and execs; throws the errno (mask restored) when execve fails. */
  execKeeper(path: string, argv: string[], env: string[]): never;
  /** The numbers of native/keeper/protocol.h. */
  keeperProtocol(): Record<string, number | string>;
  // The sd_notify socket (native/src/notify_socket.h; used by native/notify-socket.ts).
  /** A SOCK_DGRAM socket bound at `path`, SO_PASSCRED (and SO_PASSPIDFD where known) on; the caller owns the fd. */
  notifySocketBind(path: string): number;
  /** One datagram, or null when none waits: its bytes (at most maxBytes), whether it was cut, its credentials, fds and the sender's cgroup id (0n: unknown). */
  notifyReceive(fd: number, maxBytes: number): [message: Buffer, truncated: boolean, pid: number, uid: number, gid: number, fds: number[], senderCgroupId: bigint] | null;
  ChannelWatcher: new (fd: number, onEvent: (readable: boolean, writable: boolean, failed: boolean) => void) => RawChannelWatcher;
  /** Takes `fd` (native/src/pipe_reader.h); onRead: bytes read into the buffer, 0 at EOF, -1 with the errno error. */
  PipeReader: new (fd: number, onRead: (nread: number, error: RawErrnoError | undefined) => void) => RawPipeReader;
}

export interface RawPipeReader {
  setBuffer(buffer: Buffer): void;
  start(): void;
  stop(): void;
  close(): void;
}

export interface RawChannelWatcher {
  watchWritable(on: boolean): void;
  close(): void;
}
