// Whether a process belongs to an instance of a service, for sd_notify's sender check and
// for MAINPID=: in its cgroup (or a cgroup below it), or, without a cgroup, in the session
// its main process leads (every instance is started with setsid). The cgroup is compared by
// id first, which the kernel gives for a sender even after it exited (SCM_PIDFD, 6.5); /proc
// is the fallback, and a process /proc no longer shows is not counted as a member.
import fs from 'node:fs';
import path from 'node:path';
import type { ProcessRef } from '../../native/index.js';
import type { ServiceCgroup } from '../cgroup.js';

export class InstanceMembership {
  readonly #main: ProcessRef;
  readonly #cgroup: ServiceCgroup | null;
  #cgroupId: bigint | null = null;
  /** The cgroup as /proc/<pid>/cgroup spells it ("/pidvisor-.../web.1a2b.3"). */
  #cgroupPath: string | null = null;

  constructor(main: ProcessRef, cgroup: ServiceCgroup | null) {
    this.#main = main;
    this.#cgroup = cgroup;
  }

  contains(pid: number, cgroupId = 0n): boolean {
    if (pid === this.#main.pid && this.#main.pidfd >= 0) return true;
    const cgroup = this.#cgroup;
    if (cgroup !== null) {
      if (cgroupId !== 0n && cgroupId === this.#ownCgroupId(cgroup)) return true;
      const own = this.#ownCgroupPath(cgroup);
      const found = cgroupPathOf(pid);
      return own !== null && found !== null && (found === own || found.startsWith(`${own}/`));
    }
    return sessionOf(pid) === this.#main.pid;
  }

  #ownCgroupId(cgroup: ServiceCgroup): bigint {
    // The cgroup v2 id is the inode number of its directory.
    this.#cgroupId ??= fs.statSync(cgroup.dir, { bigint: true }).ino;
    return this.#cgroupId;
  }

  #ownCgroupPath(cgroup: ServiceCgroup): string | null {
    if (this.#cgroupPath !== null) return this.#cgroupPath;
    const main = cgroupPathOf(this.#main.pid);
    // The main process's own line is the instance's cgroup as /proc names it, whatever the mount.
    if (main !== null && main.endsWith(`/${path.basename(cgroup.dir)}`)) this.#cgroupPath = main;
    return this.#cgroupPath;
  }
}

function cgroupPathOf(pid: number): string | null {
  try {
    const line = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((entry) => entry.startsWith('0::'));
    return line === undefined ? null : line.slice(3);
  } catch {
    return null;
  }
}

function sessionOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[4]);
  } catch {
    return null;
  }
}
