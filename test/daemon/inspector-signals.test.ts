// SIGUSR1 must never open Node's inspector (a debugger on 127.0.0.1 that runs code as the
// daemon's user, root), and SIGUSR2 must never end the process: in the daemon, in init, and
// from the entry point's first line on. Every process here runs node with --inspect-port=0,
// so a regression opens the inspector on a port the kernel picks (never 9229, never a clash
// with another test), and "nothing listens" is checked by socket ownership, whatever the port.
import { spawn as spawnWithLibuv, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { PIDVISOR_BIN, startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { isRunning, killTree, pollUntil, procStatus } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
const NO_FIXED_INSPECTOR_PORT = '--inspect-port=0';
const HOLD_HOOKS = path.resolve(path.dirname(PIDVISOR_BIN), '../../test/fixtures/hold-cli-import.mjs');
const SIGUSR1 = os.constants.signals.SIGUSR1;
const SIGUSR2 = os.constants.signals.SIGUSR2;

let dir = '';
let daemon: DaemonProcess | undefined;
const children = new Set<ChildProcess>();

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-usr-'));
});

afterEach(async () => {
  // A test that failed midway: stop the daemon politely first, so it stops its service.
  const stopped = daemon?.stop('SIGTERM');
  const bound = new Promise((resolve) => setTimeout(resolve, 10_000).unref());
  if (stopped !== undefined && (await Promise.race([stopped, bound.then(() => 'timeout')])) === 'timeout') await daemon?.stop('SIGKILL');
  daemon = undefined;
  // A test that failed midway: its init's main command first, then the init.
  for (const child of children) killTree(child.pid!);
  children.clear();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** TCP sockets in LISTEN state that `pid` holds (from its own network namespace's tables). */
function tcpListenersOf(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const socket = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (socket !== null) inodes.add(socket[1]!);
    } catch {
      // closed while we looked
    }
  }
  const listeners: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const [, local, , state, , , , , , inode] = line.trim().split(/\s+/);
      const LISTEN = '0A';
      if (state === LISTEN && inode !== undefined && inodes.has(inode)) listeners.push(`${table} ${local}`);
    }
  }
  return listeners;
}

/** Whether `signal` is in one of the signal masks of /proc/<pid>/status (SigPnd, SigCgt, ...). */
function inMask(pid: number, fields: string[], signal: number): boolean {
  const status = procStatus(pid);
  return fields.some((field) => ((BigInt(`0x${status.get(field)}`) >> BigInt(signal - 1)) & 1n) === 1n);
}

interface Run {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | string>;
}

function run(nodeArgs: string[], args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawnWithLibuv(process.execPath, [...nodeArgs, PIDVISOR_BIN, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PIDVISOR_LOG_LEVEL: 'info', ...env },
  });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => {
    children.delete(child);
    resolve(code ?? signal ?? -1);
  }));
  return { child, stderr: () => stderr, exit };
}

/** A main command for init that appends each USR1/USR2 it gets to `log`, after a ready line. */
function recorder(log: string): string[] {
  return ['sh', '-c', `trap "echo USR1 >> ${log}" USR1; trap "echo USR2 >> ${log}" USR2; trap "exit 0" TERM; echo ready >> ${log}; while :; do sleep 0.05; done`];
}

const linesOf = (file: string): string[] => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n') : []);

describe('the probe', () => {
  it('negative control: a bare node on SIGUSR1 opens its inspector, and tcpListenersOf sees it', async () => {
    const child = spawnWithLibuv(process.execPath, [NO_FIXED_INSPECTOR_PORT, '-e', 'setInterval(() => {}, 1000)'], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // Node installs its SIGUSR1 handler during bootstrap; before that the signal would kill it.
    await pollUntil(() => inMask(child.pid!, ['SigCgt'], SIGUSR1), 10_000);
    process.kill(child.pid!, 'SIGUSR1');
    await pollUntil(() => /Debugger listening/.test(stderr), 10_000);
    expect(tcpListenersOf(child.pid!).length).toBeGreaterThan(0);
  });
});

describe.skipIf(unsupported !== null)(`SIGUSR1 and SIGUSR2${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('the daemon: SIGUSR1 logs every service, SIGUSR2 is logged as reserved, nothing listens, the daemon lives on', async () => {
    const config = path.join(dir, 'pidvisor.yaml');
    fs.writeFileSync(config, 'services:\n  sleeper:\n    command: ["sleep", "1000"]\n    stopTimeoutMs: 2000\n');
    daemon = startDaemonProcess(
      ['--socket', path.join(dir, 'api.sock'), '--state-dir', path.join(dir, 'state'), '--config', config, '--cgroup-name', `pidvisor-test-usr-${process.pid}`],
      { nodeArgs: [NO_FIXED_INSPECTOR_PORT] },
    );
    await daemon.waitForLog((r) => r.msg === 'api listening');
    await daemon.waitForLog((r) => r.msg === 'started' && r.service === 'sleeper');
    const pid = daemon.process.pid!;
    const inspector = (r: Record<string, unknown>): boolean => r.unparsed === true && /Debugger listening/.test(String(r.msg));

    process.kill(pid, 'SIGUSR1');
    const answer = await daemon.waitForLog((r) => r.msg === 'status' || inspector(r));
    expect(answer).toMatchObject({ msg: 'status', signal: 'SIGUSR1', services: 1 });
    await daemon.waitForLog((r) => r.msg === 'service status');
    expect(daemon.logs.find((r) => r.msg === 'service status')).toMatchObject({ service: 'sleeper', pid: expect.any(Number) });

    process.kill(pid, 'SIGUSR2');
    expect(await daemon.waitForLog((r) => (r.msg === 'signal ignored: reserved' && r.signal === 'SIGUSR2') || inspector(r))).toMatchObject({ signal: 'SIGUSR2' });

    expect(tcpListenersOf(pid)).toEqual([]);
    expect(daemon.logs.filter(inspector)).toEqual([]);
    expect(await daemon.stop('SIGTERM')).toBe(0);
  });

  it('init: both go to the main command, and nothing listens', async () => {
    const log = path.join(dir, 'main.log');
    const init = run([NO_FIXED_INSPECTOR_PORT], ['init', '--', ...recorder(log)]);
    await pollUntil(() => linesOf(log).includes('ready'), 10_000);
    for (const signal of ['SIGUSR1', 'SIGUSR2'] as const) {
      process.kill(init.child.pid!, signal);
      await pollUntil(() => linesOf(log).includes(signal.slice(3)), 10_000);
    }
    expect(tcpListenersOf(init.child.pid!)).toEqual([]);
    expect(init.stderr()).not.toMatch(/Debugger listening/);
    process.kill(init.child.pid!, 'SIGTERM');
    expect(await init.exit).toBe(0);
  });

  it('from the first line of the entry point: while the CLI is still loading, neither opens the inspector nor ends pidvisor', async () => {
    // The entry point is held at its import of the CLI, after its own first lines ran.
    const log = path.join(dir, 'main.log');
    const init = run([NO_FIXED_INSPECTOR_PORT, '--import', HOLD_HOOKS], ['init', '--', ...recorder(log)], { PIDVISOR_TEST_HOLD_DIR: dir });
    await pollUntil(() => fs.existsSync(path.join(dir, 'held')), 10_000);
    const pid = init.child.pid!;
    for (const signal of [SIGUSR1, SIGUSR2]) {
      process.kill(pid, signal);
      await pollUntil(() => !isRunning(pid) || !inMask(pid, ['SigPnd', 'ShdPnd'], signal), 10_000);
    }
    fs.writeFileSync(path.join(dir, 'release'), '');

    // Up and running: the main command started, so the whole start-up is behind us.
    await pollUntil(() => linesOf(log).includes('ready') || !isRunning(pid), 10_000);
    expect(isRunning(pid)).toBe(true);
    expect(tcpListenersOf(pid)).toEqual([]);
    expect(init.stderr()).not.toMatch(/Debugger listening/);
    // Sent before there was a main command, they went nowhere; from now on they are forwarded.
    expect(linesOf(log)).toEqual(['ready']);
    process.kill(pid, 'SIGUSR1');
    await pollUntil(() => linesOf(log).includes('USR1'), 10_000);
    process.kill(pid, 'SIGTERM');
    expect(await init.exit).toBe(0);
  });
});
