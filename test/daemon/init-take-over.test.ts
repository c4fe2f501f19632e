// Init mode with services, as a container's PID 1 (issue 10, init item): pidvisor-init is the
// keeper, the Node init its child, the main command and the services the Node init's. SIGKILL
// the Node init: the keeper restarts it, and the new one takes back the SAME main command and
// the same service (no second copy of either), and when the main command ends, the container
// exits with its code, its service stopped.
import { spawn as spawnWithLibuv, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { INIT_BIN } from '../helpers/keeper.js';
import { descendants, isRoot, isRunning, killTree, pidfdsHeldBy, pollUntil } from '../helpers/proc.js';
import { takeOverSkipReason } from '../helpers/take-over.js';

function skipReason(): string | null {
  if (!isRoot()) return 'needs root for a new PID namespace';
  return takeOverSkipReason('no instance token for the main command');
}
const reason = skipReason();

let dir = '';
let init: ChildProcess | null = null;

afterEach(() => {
  // unshare --kill-child takes the namespace (and everything in it) along.
  if (init !== null && init.exitCode === null && init.signalCode === null) killTree(init.pid!);
  init = null;
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  dir = '';
});

const cmdline = (pid: number): string => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};
const executable = (pid: number): string => {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
};
const parentOf = (pid: number): number => Number(/^PPid:\s*(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

describe.skipIf(reason !== null)(`a Node init killed under pidvisor-init${reason ? ` (skipped: ${reason})` : ''}`, () => {
  it('is restarted by the keeper, takes back the same main command and service, and the container exits with the command', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-init-take-over-'));
    const stop = path.join(dir, 'stop');
    const serviceMarker = `1000.${process.pid}${Date.now() % 100000}`;
    const config = path.join(dir, 'config.yaml');
    fs.writeFileSync(config, `services:\n  svc:\n    command: ["sleep", "${serviceMarker}"]\n`);
    const mainScript = `while [ ! -e ${stop} ]; do sleep 0.05; done; exit 42`;
    init = spawnWithLibuv(
      'unshare',
      ['--pid', '--fork', '--mount-proc', '--kill-child', INIT_BIN, '--config', config, '--state-dir', path.join(dir, 'state'), '--', 'sh', '-c', mainScript],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PIDVISOR_LOG_LEVEL: 'info', PIDVISOR_NODE: process.execPath } },
    );
    let stderr = '';
    init.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | string>((resolve) => init!.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));

    // keeper (PID 1) -> node -> { sh (main), sleep (service) }
    const find = (): { keeper: number; nodes: number[]; mains: number[]; services: number[] } => {
      const all = descendants(init!.pid!);
      const keeper = all.find((pid) => executable(pid) === fs.realpathSync(INIT_BIN)) ?? 0;
      return {
        keeper,
        nodes: all.filter((pid) => executable(pid) === process.execPath),
        mains: all.filter((pid) => cmdline(pid).startsWith('sh -c ') && cmdline(pid).includes(stop)),
        services: all.filter((pid) => cmdline(pid).includes(serviceMarker)),
      };
    };
    let before = find();
    await pollUntil(() => (before = find()).mains.length === 1 && before.services.length === 1 && before.nodes.length === 1, 30_000);
    const [node] = before.nodes;
    const [main] = before.mains;
    const [service] = before.services;
    expect(parentOf(main!)).toBe(node);
    expect(parentOf(service!)).toBe(node);

    // Rewritten (temp + rename: a new inode) by each Node init once its main command runs.
    const mainFile = path.join(dir, 'state', 'init-main.json');
    const inode = (): number => (fs.existsSync(mainFile) ? fs.statSync(mainFile).ino : 0);
    await pollUntil(() => inode() !== 0, 10_000);
    const firstInode = inode();

    // Both pidfds (main command, service) in the keeper's store: what the kill is about. (Killed
    // between a spawn and its deposit, a process is not taken back: see the README.)
    await pollUntil(() => pidfdsHeldBy(before.keeper) === 2, 10_000);

    process.kill(node!, 'SIGKILL');
    // A new Node init, ready (the keeper says so: its take-over is done, its main command runs).
    const readyLines = (): number => stderr.split('\n').filter((line) => line.includes('"msg":"the daemon is ready"')).length;
    let after = find();
    await pollUntil(() => (after = find()).nodes.length === 1 && after.nodes[0] !== node && readyLines() === 2, 30_000);
    await pollUntil(() => inode() !== firstInode && inode() !== 0, 10_000);
    after = find();
    // The same main command and service, and no second copy of either.
    expect({ mains: after.mains, services: after.services }).toEqual({ mains: [main], services: [service] });
    // The Node init's log lines reach the shared stderr through its logger's buffer, so they
    // may come after the keeper's "ready" line: wait for them (bounded) rather than read once.
    await pollUntil(() => stderr.includes('"msg":"main command re-adopted"'), 10_000);
    await pollUntil(() => stderr.split('\n').some((line) => line.includes('"msg":"took over from the previous daemon"') && line.includes('"adoptedThrough":{"keeper":1,"handle":0}')), 10_000);
    // Now the keeper's children (it reaps them), watched by the new Node init through their pidfds.
    expect(parentOf(main!)).toBe(after.keeper);
    expect(parentOf(service!)).toBe(after.keeper);
    expect(stderr).toMatch(/"msg":"the daemon died; restarting it"/);

    fs.writeFileSync(stop, '');
    expect(await exited).toBe(42);
    expect(isRunning(service!)).toBe(false);
    expect(isRunning(main!)).toBe(false);
  }, 90_000);
});
