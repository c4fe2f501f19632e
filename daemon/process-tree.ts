// What "the tree" of a service is, per kill mode, and how to signal it and know it is gone.
//   process: the main process only (what it started is left alone);
//   group:   the process group the main process leads (each service runs in its own session);
//   cgroup:  the service's own cgroup v2 directory, which nothing started inside can leave.
import type { ProcessRef } from '../native/index.js';
import type { ServiceCgroup } from './cgroup.js';
import type { KillMode } from './definition.js';
import { waitGroupEmpty } from './group-watch.js';

const SIGKILL = 9;

export class ProcessTree {
  readonly #mode: KillMode;
  readonly #cgroup: ServiceCgroup | null;

  constructor(mode: KillMode, cgroup: ServiceCgroup | null) {
    this.#mode = mode;
    this.#cgroup = cgroup;
  }

  /** What the tree is: the kill mode its instance was started with. */
  get mode(): KillMode {
    return this.#mode;
  }

  /**
   * The polite signal of a stop: to the main process, to the group it leads, or to every
   * process in the cgroup (as systemd does), whatever session they made for themselves.
   */
  signal(child: ProcessRef | null, signal: number): void {
    if (this.#mode === 'cgroup' && this.#cgroup !== null) {
      this.#cgroup.signalEach(signal, child);
      return;
    }
    if (child === null || child.exitStatus !== undefined) return;
    signalQuietly(child, signal, this.#mode !== 'process');
  }

  /** SIGKILL to everything in the tree. */
  kill(child: ProcessRef | null): void {
    if (this.#mode === 'cgroup') this.#cgroup?.kill();
    else if (child !== null && child.exitStatus === undefined) signalQuietly(child, SIGKILL, this.#mode === 'group');
  }

  /** Whether onMainExited does anything (a spawn without it needs no beforeReap hook). */
  get actsBeforeReap(): boolean {
    return this.#mode === 'group';
  }

  /**
   * Run from the main process's beforeReap: it has exited but is still a zombie, so the
   * group it led is pinned. The rest of a group is killed with it (a service's main process
   * is the service); a cgroup is killed through cgroup.kill, which needs no pinning.
   */
  onMainExited(child: ProcessRef): void {
    if (this.#mode === 'group') signalQuietly(child, SIGKILL, true);
  }

  /** After the main process is reaped: kill what is left (cgroup mode). */
  killRemains(): void {
    if (this.#mode === 'cgroup') this.#cgroup?.kill();
  }

  /** Resolves true once nothing of the tree remains, false after `timeoutMs`. */
  async waitGone(leaderPid: number, timeoutMs: number): Promise<boolean> {
    if (this.#mode === 'process') return true;
    if (this.#mode === 'cgroup') return this.#cgroup === null ? true : this.#cgroup.waitEmpty(timeoutMs);
    // The group the main process led has its pid as pgid; the kill went through the
    // leader's pidfd while it was pinned (onMainExited), and this only reads.
    return waitGroupEmpty(leaderPid, timeoutMs);
  }
}

function signalQuietly(child: ProcessRef, signal: number, processGroup: boolean): void {
  try {
    child.signal(signal, { processGroup });
  } catch {
    // Already exited: nothing left to signal through this reference.
  }
}
