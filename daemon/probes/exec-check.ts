// exec: runs a command as the service would run (its user, environment and working
// directory); exit code 0 passes. Spawned through the native layer like every process of the
// daemon (never child_process, whose SIGCHLD reaping races ours), with the clone on a thread
// of the addon rather than the event loop's (spawnAsync), into a tree of its own: a
// cgroup of the probe where cgroups are usable, else a session (and so a process group) of its
// own. At the timeout the whole tree is killed; after any exit what the command left running
// is killed too, so a check never leaves a process behind.
//
// The probe's cgroup serves check after check while no check has needed a kill: a mkdir and
// an rmdir on cgroupfs for every check cost more than the check (the bench runs 100 a second).
// One that has seen cgroup.kill is never used again (see ServiceCgroup.create): it is removed
// and the next check makes a new one.
import path from 'node:path';
import { spawnAsync, type ChildProcess, type PipeReader, type ProcessExit } from '../../native/index.js';
import { ServiceCgroup } from '../cgroup.js';
import type { ServiceDefinition } from '../definition.js';
import { ProcessTree } from '../process-tree.js';
import { describeError, type Checker, type CheckResult } from './check.js';

/** Output kept for the failure detail. */
const OUTPUT_BYTES = 512;
// After SIGKILL, how long the kernel may take to end the tree before we give up waiting.
const AFTER_KILL_MS = 5000;
// How long the output of an ended check may take to be read to its end.
const OUTPUT_WAIT_MS = 1000;
// Where every check's output is read: each read is decoded at once (onData's view is valid only
// during the call), so one buffer serves all checks.
const READ_BUFFER = Buffer.allocUnsafeSlow(16 << 10);

let sequence = 0;

export class ExecChecker implements Checker {
  readonly #command: readonly [string, ...string[]];
  readonly #definition: ServiceDefinition;
  /** Where the check's own cgroup is made; null: a process group instead. */
  readonly #cgroupParent: string | null;
  readonly #label: string;
  /** The probe's cgroup, while no kill has gone through it. */
  #cgroup: ServiceCgroup | null = null;
  /** The check running now, so that close() can end it. */
  #running: { child: ChildProcess; tree: ProcessTree } | null = null;
  /** A check's clone is under way: once it is back, the check sees #closed and kills it. */
  #spawning = false;
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
    if (this.#cgroupParent !== null) this.#cgroup ??= ServiceCgroup.create(path.join(this.#cgroupParent, `probe.${this.#label}.${process.pid}.${++sequence}`));
    const cgroup = this.#cgroup;
    const tree = new ProcessTree(cgroup === null ? 'group' : 'cgroup', cgroup);
    // The timeout runs from the request: a clone waiting for a thread or a CPU counts against
    // it, and a child that arrives after it is killed at once.
    let timedOut = false;
    let child: ChildProcess | null = null;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child !== null) tree.kill(child);
    }, timeoutMs);
    this.#spawning = true;
    try {
      const [command, ...args] = this.#command;
      // Cloned off the event loop (spawnAsync): the clone suspends its thread until the child
      // has exec'd, 0.1-0.25 s on a busy machine, and 100 probes a second stalled the loop.
      child = await spawnAsync({
        command,
        args,
        ...(definition.env === null ? {} : { env: definition.env }),
        ...(definition.cwd === undefined ? {} : { cwd: definition.cwd }),
        ...(definition.credentials === null ? {} : definition.credentials),
        detach: 'session',
        // Read by the addon (PipeReader), not two net.Sockets: those cost ~250 us per check.
        stdio: ['null', 'reader', 'reader'],
        ...(cgroup === null ? {} : { cgroup: cgroup.dir }),
        // Pinned while a zombie: its group can still be killed safely (group mode). The
        // child is known by then: its exit is seen on a later turn of the loop than the one
        // that resolved the spawn. Only where the tree acts on it (group mode): without a
        // hook the addon reaps at once, with no waitid(WNOWAIT) peek and no call into JS.
        ...(tree.actsBeforeReap
          ? {
              beforeReap: () => {
                if (child !== null) tree.onMainExited(child);
              },
            }
          : {}),
      });
    } catch (error) {
      clearTimeout(timer);
      this.#retireCgroup();
      return { ok: false, detail: this.#closed ? 'the check was cancelled' : `could not run: ${describeError(error)}` };
    } finally {
      this.#spawning = false;
    }
    // Closed or timed out while the clone ran: nothing of this check may run on.
    if (timedOut || this.#closed) tree.kill(child);
    const started = child;
    this.#running = { child: started, tree };
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_BYTES);
    };
    const readers = [started.stdoutReader, started.stderrReader].filter((reader): reader is PipeReader => reader !== null);
    for (const reader of readers) reader.read(READ_BUFFER, { onData: keep, onEnd: () => {} });
    let exit: ProcessExit;
    try {
      exit = await started.wait();
    } finally {
      clearTimeout(timer);
      this.#running = null;
    }
    await this.#endTree(tree, cgroup, started.pid, timedOut);
    // The tree is gone, so the pipes are at EOF: their last bytes are on the way.
    await outputEnded(readers, OUTPUT_WAIT_MS);
    for (const reader of readers) reader.close();
    const said = output.trim() === '' ? '' : `: ${output.trim()}`;
    if (timedOut) return { ok: false, detail: `timed out after ${timeoutMs} ms; its processes were killed` };
    if (exit.code === 0) return { ok: true, detail: `exited with code 0${said}` };
    const how = exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
    return { ok: false, detail: this.#closed ? 'the check was cancelled' : `${how}${said}` };
  }

  // What the command left running is killed. An empty cgroup that saw no kill is kept for
  // the next check; any other is removed once empty.
  async #endTree(tree: ProcessTree, cgroup: ServiceCgroup | null, leaderPid: number, killed: boolean): Promise<void> {
    if (cgroup === null) {
      await tree.waitGone(leaderPid, AFTER_KILL_MS); // the group was SIGKILLed with its leader
      return;
    }
    if (!killed && !this.#closed && !stillPopulated(cgroup)) return;
    this.#cgroup = null;
    if (await cgroup.removeIfEmpty()) return;
    tree.killRemains();
    if (await tree.waitGone(leaderPid, AFTER_KILL_MS)) cgroup.tryRemove();
  }

  #retireCgroup(): void {
    this.#cgroup?.tryRemove();
    this.#cgroup = null;
  }

  close(): void {
    this.#closed = true;
    const running = this.#running;
    // A check still running is killed, and removes the cgroup once it has ended.
    if (running !== null) running.tree.kill(running.child);
    else if (!this.#spawning) this.#retireCgroup();
  }
}

/** Resolves once every reader has reached EOF (and so closed), or after `timeoutMs`. */
function outputEnded(readers: readonly PipeReader[], timeoutMs: number): Promise<void> {
  const open = readers.filter((reader) => !reader.closed);
  if (open.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let left = open.length;
    const timer = setTimeout(resolve, timeoutMs);
    const one = (): void => {
      if (--left === 0) {
        clearTimeout(timer);
        resolve();
      }
    };
    for (const reader of open) reader.onClose(one);
  });
}

function stillPopulated(cgroup: ServiceCgroup): boolean {
  try {
    return cgroup.populated();
  } catch {
    return false; // removed under us: nothing can be in it
  }
}
