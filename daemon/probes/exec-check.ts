// exec: runs a command as the service would run (its user, environment and working
// directory); exit code 0 passes. Spawned through the native layer like every process of the
// daemon (never child_process, whose SIGCHLD reaping races ours), into a tree of its own: a
// cgroup of its own where cgroups are usable, else a session (and so a process group) of its
// own. At the timeout the whole tree is killed; after any exit what the command left running
// is killed too, so a check never leaves a process behind.
import path from 'node:path';
import { spawn, type ChildProcess, type ProcessExit } from '../../native/index.js';
import { ServiceCgroup } from '../cgroup.js';
import type { ServiceDefinition } from '../definition.js';
import { ProcessTree } from '../process-tree.js';
import { describeError, type Checker, type CheckResult } from './check.js';

/** Output kept for the failure detail. */
const OUTPUT_BYTES = 512;
// After SIGKILL, how long the kernel may take to end the tree before we give up waiting.
const AFTER_KILL_MS = 5000;

let sequence = 0;

export class ExecChecker implements Checker {
  readonly #command: readonly [string, ...string[]];
  readonly #definition: ServiceDefinition;
  /** Where the check's own cgroup is made; null: a process group instead. */
  readonly #cgroupParent: string | null;
  readonly #label: string;
  /** The check running now, so that close() can end it. */
  #running: { child: ChildProcess; tree: ProcessTree } | null = null;
  #closed = false;

  constructor(command: readonly [string, ...string[]], definition: ServiceDefinition, cgroupParent: string | null, label: string) {
    this.#command = command;
    this.#definition = definition;
    this.#cgroupParent = cgroupParent;
    this.#label = label;
  }

  async run(timeoutMs: number): Promise<CheckResult> {
    if (this.#closed) return { ok: false, detail: 'the check was cancelled' };
    const definition = this.#definition;
    const cgroup = this.#cgroupParent === null ? null : ServiceCgroup.create(path.join(this.#cgroupParent, `probe.${this.#label}.${process.pid}.${++sequence}`));
    const tree = new ProcessTree(cgroup === null ? 'group' : 'cgroup', cgroup);
    let child: ChildProcess;
    try {
      const [command, ...args] = this.#command;
      child = spawn({
        command,
        args,
        ...(definition.env === null ? {} : { env: definition.env }),
        ...(definition.cwd === undefined ? {} : { cwd: definition.cwd }),
        ...(definition.credentials === null ? {} : definition.credentials),
        detach: 'session',
        stdio: ['null', 'pipe', 'pipe'],
        ...(cgroup === null ? {} : { cgroup: cgroup.dir }),
        // Pinned while a zombie: its group can still be killed safely (group mode).
        beforeReap: () => tree.onMainExited(child),
      });
    } catch (error) {
      cgroup?.tryRemove();
      return { ok: false, detail: `could not run: ${describeError(error)}` };
    }
    this.#running = { child, tree };
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_BYTES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      tree.kill(child);
    }, timeoutMs);
    let exit: ProcessExit;
    try {
      exit = await child.wait();
    } finally {
      clearTimeout(timer);
      this.#running = null;
    }
    await this.#endTree(tree, cgroup, child.pid);
    child.stdout?.destroy();
    child.stderr?.destroy();
    const said = output.trim() === '' ? '' : `: ${output.trim()}`;
    if (timedOut) return { ok: false, detail: `timed out after ${timeoutMs} ms; its processes were killed` };
    if (exit.code === 0) return { ok: true, detail: `exited with code 0${said}` };
    const how = exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
    return { ok: false, detail: this.#closed ? 'the check was cancelled' : `${how}${said}` };
  }

  // What the command left running is killed; its cgroup is removed once empty.
  async #endTree(tree: ProcessTree, cgroup: ServiceCgroup | null, leaderPid: number): Promise<void> {
    if (cgroup !== null && (await cgroup.removeIfEmpty())) return;
    tree.killRemains();
    if (await tree.waitGone(leaderPid, AFTER_KILL_MS)) cgroup?.tryRemove();
  }

  close(): void {
    this.#closed = true;
    const running = this.#running;
    if (running !== null) running.tree.kill(running.child);
  }
}
