// One cgroup v2 directory per instance of a service: the child is spawned straight into it
// (CLONE_INTO_CGROUP), so everything it starts stays inside, and the whole tree is killed at
// once with cgroup.kill (Linux 5.14). A stop is complete only when cgroup.events says the
// cgroup is no longer populated.
import fs from 'node:fs';
import path from 'node:path';
import { capabilities, openProcess, tryLockExclusive, type ProcessRef } from '../native/index.js';

const POLL_MS = 20;
// readFileSync's options as one object: given as the string 'utf8', each call copies its
// defaults into a new object (getOptions): 3 to 14 us a call under the daemon's interpreter.
const UTF8 = { encoding: 'utf8' } as const;

export class ServiceCgroup {
  readonly dir: string;
  // Its control files, named once: path.join normalizes its result, which under the daemon's
  // interpreter-only V8 cost ~25 µs a call (5 ms of the ~180 ms a stop of 200 took, at load).
  readonly #procsFile: string;
  readonly #eventsFile: string;
  readonly #killFile: string;
  #removed = false;

  constructor(dir: string) {
    this.dir = dir;
    this.#procsFile = `${dir}/cgroup.procs`;
    this.#eventsFile = `${dir}/cgroup.events`;
    this.#killFile = `${dir}/cgroup.kill`;
  }

  /**
   * Creates a new, empty cgroup for one instance. Never reuse a cgroup that has seen a
   * cgroup.kill: on Linux 6.18 (found here), a child placed with CLONE_INTO_CGROUP into such a
   * cgroup is SIGKILLed at birth, because the kill sequence number it is checked against is
   * read from the parent's cgroup instead of the target's.
   */
  static create(dir: string): ServiceCgroup {
    try {
      fs.mkdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // The daemon's subtree was removed under it (by hand, or by an older pidvisor that
      // removed a shared root): make it again rather than fail every launch from now on.
      fs.mkdirSync(path.dirname(dir), { recursive: true });
      fs.mkdirSync(dir);
    }
    return new ServiceCgroup(dir);
  }

  populated(): boolean {
    const events = fs.readFileSync(this.#eventsFile, UTF8);
    return /^populated 1$/m.test(events);
  }

  /** SIGKILL to every process in the cgroup, atomically (the kernel walks it, no pid races). */
  kill(): void {
    try {
      fs.writeFileSync(this.#killFile, '1');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // already removed
      throw error;
    }
  }

  /**
   * Sends `signal` to every process in the cgroup. Each is reached through a pidfd opened on
   * it and checked to be still inside: a pid read from cgroup.procs may have been reused by
   * the time we act, but the process a pidfd names cannot change. `held` is a process we
   * already hold by its pidfd (the main process of the instance): while it is unreaped its
   * pid cannot name another process, so when cgroup.procs lists that pid, the held pidfd
   * reaches it without opening another one or reading /proc.
   */
  signalEach(signal: number, held: ProcessRef | null = null): void {
    const heldPid = held !== null && held.pidfd >= 0 ? held.pid : -1;
    let relative: string | undefined;
    for (const pid of fs.readFileSync(this.#procsFile, UTF8).split('\n').filter(Boolean).map(Number)) {
      if (pid === heldPid) {
        try {
          held!.signal(signal);
        } catch {
          // exited meanwhile
        }
        continue;
      }
      relative ??= `0::/${path.relative(cgroupMountOf(this.dir), this.dir)}`;
      let ref;
      try {
        ref = openProcess(pid);
      } catch {
        continue; // gone already
      }
      try {
        const line = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
        if (line === relative) ref.signal(signal);
      } catch {
        // exited meanwhile
      } finally {
        ref.close();
      }
    }
  }

  /** Resolves true once the cgroup is empty, false if `timeoutMs` passes first. */
  waitEmpty(timeoutMs: number): Promise<boolean> {
    // After a stop it is usually empty already (its main process was just reaped): then no
    // watch is set up only to be taken down.
    if (!this.#stillPopulated()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const deadline = Date.now() + timeoutMs;
      let watcher: fs.FSWatcher | undefined;
      let timer: NodeJS.Timeout | undefined;
      const finish = (empty: boolean): void => {
        watcher?.close();
        clearTimeout(timer);
        resolve(empty);
      };
      const check = (): void => {
        if (!this.#stillPopulated()) finish(true);
        else if (Date.now() >= deadline) finish(false);
        else timer = setTimeout(check, POLL_MS);
      };
      // cgroup.events raises a modify event when `populated` changes; the poll is a backstop.
      try {
        watcher = fs.watch(this.#eventsFile, () => {
          clearTimeout(timer);
          check();
        });
        watcher.on('error', () => {});
      } catch {
        watcher = undefined;
      }
      check();
    });
  }

  /**
   * One rmdir, which the kernel refuses (EBUSY) while a process or a cgroup is inside: true
   * once the cgroup is gone, and then nothing of the tree can be alive (a removed cgroup can
   * hold no process, nor get one). By the time the main process of a stopped instance has
   * been reaped its cgroup is usually empty, and this is the whole wait and the whole removal.
   * The rmdir runs on libuv's threadpool: it costs the kernel about 0.1 ms (it takes the
   * cgroup mutex and offlines the controllers), which for 200 services stopped at once was a
   * fifth of the event loop's time.
   */
  async removeIfEmpty(): Promise<boolean> {
    if (this.#removed) return true;
    try {
      await fs.promises.rmdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return false;
    }
    this.#removed = true;
    return true;
  }

  /**
   * Removes the directory, and any cgroups the service made inside it, deepest first.
   * Returns the error instead of throwing: a cgroup that cannot go (still populated, EBUSY)
   * must not stop the rest of a stop or a shutdown. A missing directory is success.
   */
  tryRemove(): Error | null {
    if (this.#removed) return null;
    const error = removeTree(this.dir);
    this.#removed = error === null;
    return error;
  }

  #stillPopulated(): boolean {
    try {
      return this.populated();
    } catch {
      return false; // the directory is gone: nothing can be in it
    }
  }
}

function removeTree(dir: string): Error | null {
  // Nearly every instance cgroup has no cgroup inside: one rmdir does it, without listing
  // the dozens of control files. It fails with EBUSY while a child cgroup (or a process) is
  // there; then the children go first.
  try {
    fs.rmdirSync(dir);
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code !== 'EBUSY' && code !== 'ENOTEMPTY') return error as Error;
  }
  try {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        const error = removeTree(path.join(dir, entry.name));
        if (error !== null) return error;
      }
    }
    fs.rmdirSync(dir);
    return null;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? null : (error as Error);
  }
}

/**
 * Removes the cgroup `dir` if no cgroup is left in it (rmdir fails with EBUSY while one is).
 * For a parent that several processes share, each making and removing its own child: the
 * last one out removes the parent; one that makes its child after that makes the parent
 * again (ServiceCgroup.create). Returns whether it is gone.
 */
export function removeCgroupIfEmpty(dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code === 'EBUSY' || code === 'ENOTEMPTY') return false;
    throw error;
  }
}

/**
 * The directory under which service cgroups live, created if needed, or null with the
 * reason when cgroup v2 is not usable here (then services default to the `group` kill mode).
 * `created` says whether this call made it (see claimCgroupRoot on removing only that).
 */
export function prepareCgroupRoot(mount: string | null, name: string): { root: string | null; reason: string | null; created: boolean } {
  if (mount === null) return { root: null, reason: 'no cgroup v2 hierarchy is mounted', created: false };
  const root = path.join(mount, name);
  try {
    const created = fs.mkdirSync(root, { recursive: true }) !== undefined;
    fs.accessSync(path.join(root, 'cgroup.procs'), fs.constants.W_OK);
    fs.accessSync(path.join(root, 'cgroup.kill'), fs.constants.W_OK);
    return { root, reason: null, created };
  } catch (error) {
    return { root: null, reason: `cannot use ${root}: ${(error as Error).message}`, created: false };
  }
}

/** Another live daemon holds this cgroup subtree (two daemons given one --cgroup-name). */
export class CgroupBusyError extends Error {
  override name = 'CgroupBusyError';
  readonly dir: string;
  readonly holderPid: number | null;

  constructor(dir: string, holderPid: number | null) {
    super(`cgroup ${dir} is in use by another daemon${holderPid === null ? '' : ` (pid ${holderPid})`}; give each daemon its own --cgroup-name, or none (the default is named after the state dir)`);
    this.dir = dir;
    this.holderPid = holderPid;
  }
}

/** A daemon's own cgroup subtree, locked for as long as the daemon uses it. */
export interface CgroupRootClaim {
  readonly root: string | null;
  /** Why cgroup mode is unavailable, or null when root is usable. */
  readonly reason: string | null;
  /**
   * Unlocks the subtree and, when `remove`, removes it if it is empty. Returns why it stays
   * (services left in it), null otherwise. Idempotent.
   */
  release(remove: boolean): Error | null;
}

/**
 * Makes (when missing) and locks `<mount>/<name>`: flock on the cgroup directory itself, so
 * two daemons cannot use one subtree even when told to by hand; the kernel drops the lock
 * when the daemon dies. Throws CgroupBusyError when another daemon holds it. `created`
 * tells whether this daemon made the directory (a subtree made by someone else, e.g. one
 * delegated by systemd, is never removed).
 */
export function claimCgroupRoot(mount: string | null, name: string): CgroupRootClaim & { created: boolean } {
  const prepared = prepareCgroupRoot(mount, name);
  if (prepared.root === null) return { root: null, reason: prepared.reason, created: false, release: () => null };
  const root = prepared.root;
  const fd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  let locked = false;
  try {
    locked = tryLockExclusive(fd);
  } finally {
    if (!locked) fs.closeSync(fd);
  }
  if (!locked) throw new CgroupBusyError(root, flockHolderPid(root));
  let released = false;
  return {
    root,
    reason: null,
    created: prepared.created,
    release(remove) {
      if (released) return null;
      released = true;
      fs.closeSync(fd);
      if (!remove) return null;
      try {
        fs.rmdirSync(root);
        return null;
      } catch (error) {
        return (error as NodeJS.ErrnoException).code === 'ENOENT' ? null : (error as Error);
      }
    },
  };
}

/**
 * The pid that holds a flock on `file`, from /proc/locks (pids as this process's pid
 * namespace sees them), or null when none is listed.
 */
function flockHolderPid(file: string): number | null {
  try {
    const { dev, ino } = fs.statSync(file, { bigint: true });
    // /proc/locks names the file as MAJOR:MINOR:INODE, major and minor in hex.
    const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
    const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
    const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${ino}`;
    for (const line of fs.readFileSync('/proc/locks', 'utf8').split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (fields[1] === 'FLOCK' && fields[5] === id) return Number(fields[4]);
    }
  } catch {
    // no /proc, or the file went away: the message goes without a pid
  }
  return null;
}

// The cgroup v2 mount a directory lives under (for the paths /proc/<pid>/cgroup shows).
function cgroupMountOf(dir: string): string {
  const mount = capabilities().cgroup2Mount;
  if (mount === null || !dir.startsWith(`${mount}/`)) throw new Error(`${dir} is not under the cgroup v2 mount`);
  return mount;
}
