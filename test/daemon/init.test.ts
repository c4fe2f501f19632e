// `pidvisor init` as PID 1 of a fresh PID namespace (unshare --pid --fork --mount-proc): it
// reaps every orphan, forwards signals, stops gracefully, and exits with the main command.
// Every behaviour is checked on each way init runs (VARIANTS): the native init of
// pidvisor-keeper (no Node: `pidvisor-init`, and what `pidvisor init -- cmd` execs into), the
// Node init under the keeper (what runs when services are asked for), and the Node init alone.
import { execFileSync, spawn as spawnWithLibuv, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { PIDVISOR_BIN } from '../helpers/daemon-process.js';
import { INIT_BIN, KEEPER_BIN } from '../helpers/keeper.js';
import { descendants, isRoot, killTree, pollUntil, procStat } from '../helpers/proc.js';

function skipReason(): string | null {
  if (!isRoot()) return 'needs root for a new PID namespace';
  const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']);
  if (probe.error !== undefined || probe.status !== 0) return `unshare --pid --fork --mount-proc fails here: ${probe.error?.message ?? probe.stderr.toString()}`;
  return pidfdUnsupportedReason();
}
const reason = skipReason();
const unsupported = pidfdUnsupportedReason();
const hasTini = spawnSync('tini', ['--version']).status === 0;
const hasScript = spawnSync('script', ['--version']).status === 0;

let dir = '';
const running = new Set<ChildProcess>();

interface InitRun {
  process: ChildProcess;
  exit: Promise<number | string>;
  stderr: () => string;
}

const TINI = ['tini'];
const EMPTY_CONFIG = path.join(os.tmpdir(), `pidvisor-init-empty-${process.pid}.yaml`);
fs.writeFileSync(EMPTY_CONFIG, 'services: {}\n');

interface InitVariant {
  name: string;
  /** The init's command line, up to its own options. */
  init(): string[];
  env: NodeJS.ProcessEnv;
  /** The main command is spawned by the addon (clone3, with its clone fallback), not fork(). */
  addonSpawn: boolean;
}

const VARIANTS: InitVariant[] = [
  { name: 'native init (pidvisor-init)', init: () => [INIT_BIN], env: {}, addonSpawn: false },
  {
    name: 'Node init with services, under the keeper',
    // A config, even an empty one, asks for services: the keeper starts the Node init.
    init: () => [process.execPath, PIDVISOR_BIN, 'init', '--config', EMPTY_CONFIG, '--state-dir', fs.mkdtempSync(path.join(dir, 'state-'))],
    env: {},
    addonSpawn: true,
  },
  { name: 'Node init alone (PIDVISOR_KEEPER=off)', init: () => [process.execPath, PIDVISOR_BIN, 'init'], env: { PIDVISOR_KEEPER: 'off' }, addonSpawn: true },
];

/** `init` (a variant, or tini as a reference) with `args`, as PID 1 of a new PID namespace. */
function startInit(variant: InitVariant, args: string[], options: { wrapper?: string[]; env?: NodeJS.ProcessEnv; init?: string[] } = {}): InitRun {
  const command = [...(options.wrapper ?? []), ...(options.init ?? variant.init()), ...args];
  const child = spawnWithLibuv('unshare', ['--pid', '--kill-child', '--mount-proc', ...command], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PIDVISOR_LOG_LEVEL: 'info', ...variant.env, ...options.env },
  });
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => {
    running.delete(child);
    resolve(code ?? signal ?? -1);
  }));
  return { process: child, exit, stderr: () => stderr };
}

/** tini's status as PID 1 of a new PID namespace: the reference for init's. */
function tiniStatusAsPid1(args: string[]): number | null {
  return spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'tini', ...args], { stdio: 'ignore', timeout: 20_000 }).status;
}

/** Host pid of pidvisor: the only child of `unshare --fork`. */
function initHostPid(run: InitRun): number {
  const children = fs.readFileSync(`/proc/${run.process.pid}/task/${run.process.pid}/children`, 'utf8').trim().split(' ').filter(Boolean);
  if (children.length !== 1) throw new Error(`unshare has children ${JSON.stringify(children)}`);
  return Number(children[0]);
}

async function waitForFile(file: string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  await pollUntil(() => fs.existsSync(file) && pattern.test(fs.readFileSync(file, 'utf8')), timeoutMs);
  return fs.readFileSync(file, 'utf8');
}

// Inside the namespace: a child forks `n` grandchildren that outlive it briefly (each from a
// subshell that exits at once, so they are orphans of PID 1 while alive), then exits. Once
// they have died, poll for zombies for up to 2 s and report how many remain.
const stormThenCountZombies = (n: number, out: string): string => `
  sh -c 'i=0; while [ $i -lt ${n} ]; do (sleep 0.3 &); i=$((i+1)); done'
  sleep 0.4
  zombies() { grep -l "^State:.*Z" /proc/[0-9]*/status 2>/dev/null | wc -l; }
  start=$(date +%s%N); n=$(zombies)
  while [ "$n" -gt 0 ] && [ $(( ($(date +%s%N) - start) / 1000000 )) -lt 2000 ]; do sleep 0.05; n=$(zombies); done
  echo "zombies=$n after=$(( ($(date +%s%N) - start) / 1000000 ))ms" > ${out}
`;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-init-'));
});

afterAll(() => {
  // unshare --kill-child takes its child (PID 1 of the namespace, and so the namespace) along.
  for (const child of running) child.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(EMPTY_CONFIG, { force: true });
});

describe.skipIf(reason !== null).each(VARIANTS)(`pidvisor init as PID 1: $name${reason ? ` (skipped: ${reason})` : ''}`, (variant) => {
  // Each variant its own files: the tests wait for lines in them.
  let vdir = '';
  beforeAll(() => {
    vdir = fs.mkdtempSync(path.join(dir, 'variant-'));
  });

  it('reaps 1,000 orphaned grandchildren: no zombie within 2 s', async () => {
    const out = path.join(vdir, 'storm.txt');
    const run = startInit(variant, ['--', 'sh', '-c', stormThenCountZombies(1000, out)]);
    expect(await run.exit).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toMatch(/^zombies=0 /);
  }, 30_000);

  it('negative control: the same storm under a PID 1 that does not reap leaves zombies', async () => {
    const out = path.join(vdir, 'control.txt');
    // Node as PID 1 waits only for the child it spawned itself (libuv), never for orphans.
    const script = `require('child_process').execFileSync('sh', ['-c', ${JSON.stringify(stormThenCountZombies(200, out))}], { stdio: 'inherit' })`;
    execFileSync('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '-e', script]);
    const [, count] = /^zombies=(\d+)/.exec(fs.readFileSync(out, 'utf8'))!;
    expect(Number(count)).toBeGreaterThan(100);
  }, 30_000);

  it.each([0, 1, 42, 255])('exits with the main command code %i', async (code) => {
    expect(await startInit(variant, ['--', 'sh', '-c', `exit ${code}`]).exit).toBe(code);
  });

  it.each([['TERM', 143], ['KILL', 137]])('exits with 128+n when SIG%s kills the main command', async (signal, status) => {
    expect(await startInit(variant, ['--', 'sh', '-c', `kill -${signal} $$`]).exit).toBe(status);
  });

  it('exits 127 at once when the main command does not exist, as a shell would', async () => {
    const run = startInit(variant, ['--', '/nonexistent/command']);
    expect(await run.exit).toBe(127);
    expect(run.stderr()).toMatch(/ENOENT/);
  });

  // tini -e remaps the status it would exit with, whatever made it: a code, 128+n, 127.
  it.each([
    [['-e', '3'], ['sh', '-c', 'exit 3'], 0],
    [['-e', '143'], ['sh', '-c', 'kill -TERM $$'], 0],
    [['-e', '137'], ['sh', '-c', 'kill -KILL $$'], 0],
    [['-e', '127'], ['/nonexistent/command'], 0],
    [['-e', '143'], ['sh', '-c', 'kill -KILL $$'], 137],
  ])('with %j, `%s` exits %i (as tini)', async (flags, command, status) => {
    expect(await startInit(variant, [...flags, '--', ...command]).exit).toBe(status);
    if (hasTini) expect(tiniStatusAsPid1([...flags, '--', ...command])).toBe(status);
  });

  it('forwards signals to the main command, and with -g to its whole group', async () => {
    const signals = ['HUP', 'USR1', 'USR2', 'WINCH', 'INT', 'TERM'];
    for (const group of [false, true]) {
      const log = path.join(vdir, `signals-${group}.log`);
      const traps = (who: string): string => signals.map((s) => `trap "echo ${who}:${s} >> ${log}${s === 'TERM' || s === 'INT' ? '; exit 0' : ''}" ${s};`).join(' ');
      // The main shell and a child shell in the same process group both record what they get.
      const script = `${traps('main')} sh -c '${traps('child').replaceAll("'", '')} echo child:ready >> ${log}; while :; do sleep 0.05; done' & sleep 0.2; echo main:ready >> ${log}; while :; do sleep 0.05; done`;
      const run = startInit(variant, [...(group ? ['-g'] : []), '--grace', '3000', '--', 'sh', '-c', script]);
      await waitForFile(log, /main:ready/);
      await waitForFile(log, /child:ready/);
      const pid = initHostPid(run);
      for (const signal of ['HUP', 'USR1', 'USR2', 'WINCH']) {
        process.kill(pid, `SIG${signal}` as NodeJS.Signals);
        await waitForFile(log, new RegExp(`main:${signal}`));
        if (group) await waitForFile(log, new RegExp(`child:${signal}`));
      }
      process.kill(pid, 'SIGINT'); // a graceful stop: forwarded, then the main command exits 0
      expect(await run.exit).toBe(0);
      const seen = fs.readFileSync(log, 'utf8');
      expect(seen).toMatch(/main:INT/);
      for (const signal of ['HUP', 'USR1', 'USR2', 'WINCH']) expect(seen.includes(`child:${signal}`)).toBe(group);
    }
  }, 60_000);

  it(`ignores SIGTTIN and SIGTTOU: neither forwarded nor stopping it (as tini${hasTini ? '' : ', not run: no tini'})`, async () => {
    for (const [name, init] of [['pidvisor', variant.init()], ...(hasTini ? [['tini', TINI]] : [])] as const) {
      const log = path.join(vdir, `ttin-${name}.log`);
      const script = `for s in TTIN TTOU USR1; do trap "echo $s >> ${log}" $s; done; trap "exit 0" TERM; echo ready >> ${log}; while :; do sleep 0.05; done`;
      const run = startInit(variant, ['--', 'sh', '-c', script], { init: [...init] });
      await waitForFile(log, /ready/);
      const pid = initHostPid(run);
      process.kill(pid, 'SIGTTIN');
      process.kill(pid, 'SIGTTOU');
      // A signal that is forwarded, sent after: once it has arrived, the two before it have
      // been dealt with (an ignored signal is discarded when it is sent).
      process.kill(pid, 'SIGUSR1');
      await waitForFile(log, /USR1/);
      expect({ name, seen: fs.readFileSync(log, 'utf8').trim().split('\n') }).toEqual({ name, seen: ['ready', 'USR1'] });
      expect(procStat(pid)[0]).not.toBe('T');
      process.kill(pid, 'SIGTERM');
      expect(await run.exit).toBe(0);
    }
  });

  it('stops a command that ignores SIGTERM with SIGKILL after the grace period, leaving nothing', async () => {
    const marker = `1000.${process.pid}${Date.now() % 100000}`;
    const ready = path.join(vdir, 'stubborn.ready');
    const run = startInit(variant, ['--grace', '500', '--', 'sh', '-c', `trap "" TERM; sleep ${marker} & echo > ${ready}; wait`]);
    await pollUntil(() => fs.existsSync(ready), 10_000);
    const started = Date.now();
    process.kill(initHostPid(run), 'SIGTERM');
    expect(await run.exit).toBe(137);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    const leftovers = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
      } catch {
        return false;
      }
    });
    expect(leftovers).toEqual([]);
  }, 30_000);

  it("keeps the main command's exit code right under an orphan storm", async () => {
    for (let round = 0; round < 3; round++) {
      const run = startInit(variant, ['--', 'sh', '-c', 'i=0; while [ $i -lt 300 ]; do (sleep 0.1 &); i=$((i+1)); done; sleep 0.1; exit 42']);
      expect(await run.exit).toBe(42);
    }
  }, 60_000);

  it(`works where seccomp blocks clone3${variant.addonSpawn ? ', through the clone(CLONE_PIDFD) fallback' : ' (fork uses clone)'}`, async () => {
    const binary = path.join(vdir, 'seccomp-enosys');
    execFileSync('cc', ['-O2', '-Wall', '-Werror', '-o', binary, path.join(path.dirname(PIDVISOR_BIN), '../../test/fixtures/seccomp-enosys.c')]);
    const noClone3 = [binary, '435'];
    const run = startInit(variant, ['--', 'sh', '-c', 'exit 7'], { wrapper: noClone3 });
    expect(await run.exit).toBe(7);
    expect(run.stderr()).toMatch(variant.addonSpawn ? /"spawnMethod":"clone"/ : /"spawnMethod":"fork"/);
    const out = path.join(vdir, 'storm-fallback.txt');
    expect(await startInit(variant, ['--', 'sh', '-c', stormThenCountZombies(300, out)], { wrapper: noClone3 }).exit).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toMatch(/^zombies=0 /);
  }, 30_000);
});

const shellQuote = (words: string[]): string => words.map((word) => `'${word.replaceAll("'", `'\\''`)}'`).join(' ');

const stateOf = (pid: number): string | null => {
  try {
    return procStat(pid)[0]!;
  } catch {
    return null;
  }
};

/**
 * Runs `command` as the session of a new pseudo-terminal (script(1)) and types `input` into
 * it. Resolves with the command's status, or with 'stopped' as soon as a process under it is
 * stopped by job control: how an interactive command hangs when it reads the terminal from a
 * background process group (it would never exit; what it left is killed by pid).
 */
async function onTerminal(command: string[], input: string): Promise<number | string> {
  const child = spawnWithLibuv('script', ['-qec', shellQuote(command), '/dev/null'], { stdio: ['pipe', 'ignore', 'ignore'] });
  running.add(child);
  let status: number | string | null = null;
  child.once('exit', (code, signal) => {
    running.delete(child);
    status = code ?? signal ?? -1;
  });
  // Typed ahead: the terminal keeps it until the command reads. stdin stays open, as at its
  // end script would close the session.
  child.stdin!.write(input);
  let stopped: number[] = [];
  try {
    await pollUntil(() => {
      stopped = status === null ? descendants(child.pid!).filter((pid) => stateOf(pid) === 'T') : [];
      return status !== null || stopped.length > 0;
    }, 20_000);
  } catch {
    killTree(child.pid!);
    return 'neither exited nor stopped within 20 s';
  }
  if (status !== null) return status;
  const names = stopped.map((pid) => `${pid} (${fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()})`);
  killTree(child.pid!);
  return `stopped: ${names.join(', ')}`;
}

const terminalSkip = reason ?? (hasScript ? null : 'no script(1), from bsdutils');
describe.skipIf(terminalSkip !== null).each(VARIANTS)(`pidvisor init on a terminal: $name${terminalSkip === null ? '' : ` (skipped: ${terminalSkip})`}`, (variant) => {
  let vdir = '';
  beforeAll(() => {
    vdir = fs.mkdtempSync(path.join(dir, 'variant-'));
  });
  const withEnv = (command: string[]): string[] => ['env', ...Object.entries(variant.env).map(([name, value]) => `${name}=${value}`), ...command];
  const pidvisorInit = (): string[] => withEnv([...variant.init(), '--']);
  const asPid1 = (command: string[]): string[] => ['unshare', '--pid', '--fork', '--mount-proc', ...command];

  // tini's own TTY test: an interactive shell under the init reads `exit 0` from the terminal.
  it.each([
    ['pidvisor as PID 1', true],
    ['pidvisor as a subreaper', false],
  ])('gives the terminal to an interactive main command: %s', async (_, pid1) => {
    expect(await onTerminal([...(pid1 ? asPid1(pidvisorInit()) : pidvisorInit()), 'dash', '-i'], 'exit 0\n')).toBe(0);
  });

  it.skipIf(!hasTini)(`reference: tini as PID 1 passes the same test${hasTini ? '' : ' (skipped: no tini; apt-get install tini)'}`, async () => {
    expect(await onTerminal([...asPid1(['tini', '--']), 'dash', '-i'], 'exit 0\n')).toBe(0);
  });

  it('writes its own log from the background of a TOSTOP terminal without stopping (SIGTTOU ignored, as tini)', async () => {
    // Once `true` has taken the terminal and exited, init's "main command exited" line (-v)
    // is a write from a background group: with TOSTOP the terminal answers it with SIGTTOU.
    const init = shellQuote(withEnv([...variant.init(), '-v', '--', 'true']));
    expect(await onTerminal(['sh', '-c', `stty tostop && exec ${init}`], '')).toBe(0);
  });

  it('started in the background by a job-control shell, leaves the terminal to that shell (tini takes it)', async () => {
    const out = path.join(vdir, 'background.stat');
    const main = `cat /proc/self/stat > ${out}`;
    expect(await onTerminal(['dash', '-c', `set -m; ${shellQuote([...pidvisorInit(), 'sh', '-c', main])} & wait`], '')).toBe(0);
    const stat = fs.readFileSync(out, 'utf8');
    // After the command name: state ppid pgrp session tty_nr tpgid.
    const [, , pgrp, , , foreground] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    expect(Number(foreground)).toBeGreaterThan(0);
    expect(foreground).not.toBe(pgrp);
  });
});

describe.skipIf(unsupported !== null).each(VARIANTS)(`pidvisor init as a subreaper: $name${unsupported ? ` (skipped: ${unsupported})` : ''}`, (variant) => {
  const initStderr = (args: string[]): { status: number | null; stderr: string } => {
    const [command, ...initArgs] = variant.init();
    const result = spawnSync(command!, [...initArgs, ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...variant.env } });
    return { status: result.status, stderr: result.stderr };
  };

  it("warns, as tini does, that zombie reaping won't work with --no-subreaper", () => {
    const run = initStderr(['--no-subreaper', '--', 'true']);
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/neither PID 1 nor a child subreaper: .*zombie reaping won't work \(drop --no-subreaper/);
  });

  it('says nothing of the kind as a subreaper', () => {
    const run = initStderr(['--', 'true']);
    expect(run.status).toBe(0);
    expect(run.stderr).not.toMatch(/zombie reaping/);
  });
});

// tini's sigconf test: the command starts with the signal configuration the init was started
// with (here SIGINT, SIGSEGV, SIGTTOU ignored and SIGILL, SIGTERM, SIGTTIN blocked, set by a
// python3 wrapper that then execs the init; python3 also ignores SIGPIPE and SIGXFSZ).
const SIGCONF_WRAPPER = [
  'import os, signal, sys',
  'for s in (signal.SIGINT, signal.SIGSEGV, signal.SIGTTOU): signal.signal(s, signal.SIG_IGN)',
  'signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGILL, signal.SIGTERM, signal.SIGTTIN])',
  'os.execvp(sys.argv[1], sys.argv[1:])',
].join('\n');
const hasPython = spawnSync('python3', ['--version']).status === 0;
const sigconfSkip = unsupported ?? (hasPython ? null : 'needs python3 (Debian package python3) to start the init with a signal configuration');

/** The SigBlk and SigIgn lines of the main command under `init`, started with the sigconf set. */
function mainCommandSignals(init: string[], env: NodeJS.ProcessEnv = {}): string {
  // cat, not grep: GNU grep installs its own SIGSEGV handler (stack-overflow detection).
  const result = spawnSync('python3', ['-c', SIGCONF_WRAPPER, ...init, '--', 'cat', '/proc/self/status'], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, PIDVISOR_NODE: process.execPath, ...env },
  });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout.split('\n').filter((line) => /^Sig(Ign|Blk):/.test(line)).join('\n');
}

describe.skipIf(sigconfSkip !== null)(`pidvisor init and the signals it inherited${sigconfSkip === null ? '' : ` (skipped: ${sigconfSkip})`}`, () => {
  const set = (...signals: number[]): string => signals.reduce((mask, n) => mask | (1n << BigInt(n - 1)), 0n).toString(16).padStart(16, '0');

  it(`passes on what it was started with ignored and blocked, as tini does${hasTini ? '' : ' (tini not installed: not compared)'}`, () => {
    const expected = `SigBlk:\t${set(4, 15, 21)}\nSigIgn:\t${set(2, 11, 13, 22, 25)}`;
    // The native init (both entries), and the Node init under the keeper (services asked for).
    expect(mainCommandSignals([INIT_BIN])).toBe(expected);
    expect(mainCommandSignals([KEEPER_BIN, 'init'])).toBe(expected);
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-sigconf-'));
    try {
      expect(mainCommandSignals([KEEPER_BIN, 'init', '--config', EMPTY_CONFIG, '--state-dir', state])).toBe(expected);
    } finally {
      fs.rmSync(state, { recursive: true, force: true });
    }
    if (hasTini) expect(expected).toBe(mainCommandSignals(['tini', '-s']));
  });

  it('cannot when started through node (Node resets both before any JavaScript runs): the command starts clean', () => {
    // With the keeper exec'd by the CLI (it is told that what it finds is Node's), and without.
    expect(mainCommandSignals([process.execPath, PIDVISOR_BIN, 'init'])).toBe(`SigBlk:\t${set()}\nSigIgn:\t${set()}`);
    expect(mainCommandSignals([process.execPath, PIDVISOR_BIN, 'init'], { PIDVISOR_KEEPER: 'off' })).toBe(`SigBlk:\t${set()}\nSigIgn:\t${set()}`);
  });
});
