// The CLI at a real terminal: `pidvisor top` driven through a pseudo-terminal (script(1) from
// util-linux) draws, follows state changes, sorts, refreshes and quits on q with the terminal
// given back; colours appear on a terminal only and never with NO_COLOR.
import { execFile, spawn as spawnWithLibuv, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { PIDVISOR_BIN, startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { pollUntil } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
const scriptMissing = fs.existsSync('/usr/bin/script') ? null : 'script(1) is missing (Debian package bsdutils)';
const skip = unsupported ?? scriptMissing;
let dir = '';
let socket = '';
let daemon: DaemonProcess;

const CLEAR = '\x1b[H\x1b[2J';
const RESTORE = '\x1b[?25h\x1b[?1049l';
// eslint-disable-next-line no-control-regex
const stripColours = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, '');

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PIDVISOR_BIN, ...args], { env: { ...baseEnv, PIDVISOR_SOCKET: socket, ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

// The colour switches of the test's own environment (vitest may set FORCE_COLOR) do not leak into the CLI's.
const baseEnv: NodeJS.ProcessEnv = { ...process.env };
delete baseEnv.NO_COLOR;
delete baseEnv.FORCE_COLOR;

const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

/** A command line run on a new pseudo-terminal; what it draws, and a way to type into it. */
function onTerminal(commandLine: string, env: Record<string, string> = {}): { child: ChildProcess; output: () => string; exited: Promise<number> } {
  let output = '';
  // script(1) runs the line with $SHELL, or /bin/sh when it is unset (as under CI). A
  // non-interactive dash dies of the terminal's Ctrl-C itself (130) where bash waits for its
  // child and goes on when that child handled the signal; the tests need the latter.
  const child = spawnWithLibuv('script', ['-qfec', commandLine, '/dev/null'], {
    env: { ...baseEnv, SHELL: '/bin/bash', PIDVISOR_SOCKET: socket, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  return { child, output: () => output, exited };
}

/** The last complete frame top drew (between two clears, or after the last one). */
function lastFrame(output: string): string {
  const frames = output.split(CLEAR);
  return stripColours(frames.at(-1) ?? '');
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-cli-terminal-'));
  socket = path.join(dir, 'run', 'pidvisor.sock');
  daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state'), '--cgroup-name', `pidvisor-test-cli-terminal-${process.pid}`]);
  await pollUntil(() => fs.existsSync(socket), 10_000);
});

afterEach(async () => {
  expect((await cli(['rm', '--all'])).code).toBe(0);
});

afterAll(async () => {
  expect(await daemon.stop('SIGTERM')).toBe(0);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skip !== null)(`pidvisor at a terminal${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('top draws every process, follows a stop from the event stream, sorts on a key, refreshes, and quits on q with the terminal restored', async () => {
    for (const name of ['alpha', 'beta']) expect((await cli(['run', '--name', name, '--', 'sleep', '1000'])).code).toBe(0);
    // stty after top: the terminal's modes as top left them (canonical input and echo again).
    const top = onTerminal(`${quote(process.execPath)} ${quote(PIDVISOR_BIN)} top --sort name --interval 600000; echo "top-exit=$?"; stty -a`);
    try {
      await pollUntil(() => /alpha\s+running[\s\S]*beta\s+running/.test(lastFrame(top.output())), 20_000);
      expect(top.output().startsWith('\x1b[?1049h\x1b[?25l')).toBe(true);
      expect(lastFrame(top.output())).toMatch(/^pidvisor top - 2 processes, 2 running - sort: name/);
      expect(lastFrame(top.output())).toMatch(/NAME\s+STATE\s+PID\s+CPU%\s+MEM\s+RESTARTS\s+UPTIME/);

      // A state change shows with no periodic refresh due for ten minutes: the event stream brings it.
      expect((await cli(['stop', 'alpha'])).code).toBe(0);
      await pollUntil(() => /alpha\s+stopped/.test(lastFrame(top.output())), 20_000);

      // Sorting by state puts the running one first; the same key again reverses.
      top.child.stdin!.write('s');
      await pollUntil(() => /sort: state -[\s\S]*beta\s+running[\s\S]*alpha\s+stopped/.test(lastFrame(top.output()).replace(/\r/g, '')), 20_000);
      top.child.stdin!.write('s');
      await pollUntil(() => /sort: state \(reversed\)[\s\S]*alpha\s+stopped[\s\S]*beta\s+running/.test(lastFrame(top.output()).replace(/\r/g, '')), 20_000);

      top.child.stdin!.write('q');
      expect(await top.exited).toBe(0);
    } finally {
      if (top.child.exitCode === null) top.child.kill('SIGKILL');
    }
    const output = top.output().replace(/\r/g, '');
    expect(output).toContain(`${RESTORE}top-exit=0\n`);
    const modes = output.slice(output.indexOf('top-exit=0'));
    expect(modes).toMatch(/(^|\s)icanon(\s|$)/m);
    expect(modes).toMatch(/(^|\s)echo(\s|$)/m);
  }, 90_000);

  it('top refreshes every --interval, quits on Ctrl-C as on q, and refuses to run without a terminal', async () => {
    expect((await cli(['run', '--name', 'alpha', '--', 'sleep', '1000'])).code).toBe(0);
    const top = onTerminal(`${quote(process.execPath)} ${quote(PIDVISOR_BIN)} top --interval 500; echo "top-exit=$?"`);
    try {
      await pollUntil(() => /alpha\s+running/.test(lastFrame(top.output())), 20_000);
      // Refreshes with nothing happening: the list (and its usage) is fetched every --interval, and each fetch draws a frame.
      const frames = top.output().split(CLEAR).length;
      await pollUntil(() => top.output().split(CLEAR).length >= frames + 2, 20_000);
      top.child.stdin!.write('\x03');
      expect(await top.exited).toBe(0);
    } finally {
      if (top.child.exitCode === null) top.child.kill('SIGKILL');
    }
    expect(top.output().replace(/\r/g, '')).toContain(`${RESTORE}top-exit=0\n`);
    const piped = await cli(['top']);
    expect(piped).toMatchObject({ code: 2, stdout: '' });
    expect(piped.stderr).toMatch(/top needs a terminal/);
  }, 60_000);

  it('daemon says it is ready, where it listens and how to reach it, on a terminal only; Ctrl-C there stops it', async () => {
    const own = path.join(dir, 'own');
    const ownSocket = path.join(own, 'pidvisor.sock');
    const run = onTerminal(
      `${quote(process.execPath)} ${quote(PIDVISOR_BIN)} daemon --socket ${quote(ownSocket)} --state-dir ${quote(path.join(own, 'state'))} --cgroup-name pidvisor-test-ready-${process.pid}; echo "daemon-exit=$?"`,
    );
    try {
      await pollUntil(() => stripColours(run.output()).includes('pidvisor daemon ready'), 20_000);
      const ready = stripColours(run.output()).replace(/\r/g, '');
      expect(ready).toContain(`pidvisor daemon ready: listening on unix:${ownSocket}; 0 services\n`);
      expect(ready).toContain(`pidvisor ps --socket ${ownSocket}`);
      // What it says is true: the socket answers.
      expect((await cli(['ps', '--socket', ownSocket])).code).toBe(0);
      run.child.stdin!.write('\x03');
      expect(await run.exited).toBe(0);
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
    expect(run.output()).toMatch(/daemon-exit=0/);
    const tooOften = await cli(['daemon', '--usage-interval', '5', '--socket', ownSocket, '--state-dir', path.join(own, 'state')]);
    expect(tooOften).toMatchObject({ code: 2, stdout: '' });
    expect(tooOften.stderr).toMatch(/--usage-interval takes 0 \(only when asked\) or a number of ms from 1000, not "5"/);
    // The daemon of the other tests writes into a pipe: its stderr is the JSON log alone.
    expect(daemon.logs.filter((record) => record.unparsed === true)).toEqual([]);
  }, 60_000);

  it('logs -f marks where an instance ends (with its code) and where the next starts; --json carries records only', async () => {
    expect((await cli(['run', '--name', 'flap', '--restart', 'always', '--', 'sh', '-c', 'echo "hello from $$"; sleep 1; exit 3'])).code).toBe(0);
    let output = '';
    const follow = spawnWithLibuv(process.execPath, [PIDVISOR_BIN, 'logs', '-f', 'flap'], { env: { ...baseEnv, PIDVISOR_SOCKET: socket }, stdio: ['ignore', 'pipe', 'pipe'] });
    follow.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const json = spawnWithLibuv(process.execPath, [PIDVISOR_BIN, 'logs', '-f', '--json', 'flap'], { env: { ...baseEnv, PIDVISOR_SOCKET: socket }, stdio: ['ignore', 'pipe', 'pipe'] });
    let jsonOutput = '';
    json.stdout!.on('data', (chunk: Buffer) => (jsonOutput += chunk.toString()));
    try {
      const ended = /^-- flap: instance (\S+) ended, pid (\d+): code 3 \(exited\) --$/m;
      const started = /^-- flap: instance (\S+) started, pid (\d+) --$/m;
      await pollUntil(() => ended.test(output) && started.test(output.slice(output.search(ended))), 30_000);
      const end = ended.exec(output)!;
      const next = started.exec(output.slice(end.index))!;
      expect(next[1]).not.toBe(end[1]);
      // The output of both instances is there, each line from the shell that printed it.
      await pollUntil(() => output.includes(`hello from ${next[2]}`), 30_000);
      expect(output).toContain(`hello from ${end[2]}`);
      await pollUntil(() => jsonOutput.split('\n').filter(Boolean).length >= 2, 30_000);
      for (const line of jsonOutput.split('\n').filter(Boolean)) expect(Object.keys(JSON.parse(line)).sort()).toEqual(['data', 'partial', 'seq', 'stream', 'time']);
    } finally {
      for (const child of [follow, json]) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await gone;
      }
    }
  }, 60_000);

  it('colours states on a terminal only: never with NO_COLOR or into a pipe, always with FORCE_COLOR', async () => {
    expect((await cli(['run', '--name', 'alpha', '--', 'sleep', '1000'])).code).toBe(0);
    const coloured = /\x1b\[3[23]m(starting|running)\x1b\[39m/;
    const ps = `${quote(process.execPath)} ${quote(PIDVISOR_BIN)} ps`;
    const psLine = async (env: Record<string, string>): Promise<string> => {
      const run = onTerminal(ps, env);
      expect(await run.exited).toBe(0);
      return run.output();
    };
    expect(await psLine({})).toMatch(coloured);
    expect(await psLine({ NO_COLOR: '1' })).not.toContain('\x1b[');
    const piped = await cli(['ps']);
    expect(piped.code).toBe(0);
    expect(piped.stdout).not.toContain('\x1b[');
    expect(piped.stdout).toMatch(/alpha\s+(starting|running)/);
    expect((await cli(['ps'], { FORCE_COLOR: '1' })).stdout).toMatch(coloured);
  }, 60_000);
});
