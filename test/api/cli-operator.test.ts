// The operator's commands end to end against a real daemon on a temporary socket:
// `stop|start|restart|signal` on several processes (names, --all, --label), and `show`.
import { execFile, spawn as spawnWithLibuv } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProcessInspection } from '../../api/server/schemas.js';
import './support.js'; // the date-time format, for checking responses against their schemas
import { pidfdUnsupportedReason } from '../../native/index.js';
import { PIDVISOR_BIN, startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { pollUntil } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
let dir = '';
let socket = '';
let daemon: DaemonProcess;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface Listed {
  id: string;
  name: string;
  state: string;
  pid: number | null;
  instance: string | null;
}

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PIDVISOR_BIN, ...args], { env: { ...process.env, PIDVISOR_SOCKET: socket }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

async function listed(): Promise<Map<string, Listed>> {
  const list = JSON.parse((await cli('ps', '--json')).stdout) as Listed[];
  return new Map(list.map((p) => [p.name, p]));
}

async function launch(name: string, labels: string[] = [], command = ['sleep', '1000']): Promise<void> {
  const result = await cli('run', '--name', name, ...labels.flatMap((label) => ['--label', label]), '--', ...command);
  expect(result).toMatchObject({ code: 0, stderr: '' });
}

/** Until the process's captured stdout contains `text` (each look is a `pidvisor logs`), bounded. */
async function logsInclude(name: string, text: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cli('logs', name)).stdout.includes(text)) {
    if (Date.now() > deadline) throw new Error(`${name}'s output did not show ${JSON.stringify(text)} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const alive = (pid: number | null): boolean => pid !== null && fs.existsSync(`/proc/${pid}`);
const lines = (text: string): string[] => text.split('\n').filter(Boolean);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-cli-bulk-'));
  socket = path.join(dir, 'run', 'pidvisor.sock');
  daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state'), '--cgroup-name', `pidvisor-test-cli-bulk-${process.pid}`]);
  await pollUntil(() => fs.existsSync(socket), 10_000);
});

afterEach(async () => {
  expect((await cli('rm', '--all')).code).toBe(0);
});

afterAll(async () => {
  expect(await daemon.stop('SIGTERM')).toBe(0);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(unsupported !== null)(`pidvisor bulk commands${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('stops and starts several named processes, a line each, and leaves the others alone', async () => {
    for (const name of ['a', 'b', 'c']) await launch(name);
    const before = await listed();
    expect(await cli('stop', 'a', 'b')).toMatchObject({ code: 0, stdout: 'a: stopped\nb: stopped\n', stderr: '' });
    expect(alive(before.get('a')!.pid) || alive(before.get('b')!.pid)).toBe(false);
    expect(alive(before.get('c')!.pid)).toBe(true);

    const started = await cli('start', 'a', 'b');
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(/^a: (starting|running)\nb: (starting|running)\n$/);
    const after = await listed();
    expect(alive(after.get('a')!.pid) && alive(after.get('b')!.pid)).toBe(true);
  });

  it('reports each failure with its code on stderr, the successes on stdout, and exits 1', async () => {
    await launch('a');
    await launch('b');
    await cli('stop', 'b');
    const result = await cli('start', 'a', 'nope', 'b');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^b: (starting|running)\n$/);
    expect(lines(result.stderr)).toEqual([
      expect.stringMatching(/^pidvisor start: a: .* \(PIDVISOR_ERR_ALREADY_RUNNING\)$/),
      'pidvisor start: nope: no service "nope" (PIDVISOR_ERR_NOT_FOUND)',
    ]);
    expect((await listed()).get('b')!.state).not.toBe('stopped');
    // One unknown name alone: the single-process error, exit 1.
    expect(await cli('stop', 'nope')).toMatchObject({ code: 1, stdout: '', stderr: 'pidvisor stop: no service "nope" (PIDVISOR_ERR_NOT_FOUND)\n' });
  });

  it('--json prints one result per process for several, and the answer itself for one', async () => {
    await launch('a');
    const several = await cli('stop', 'a', 'nope', '--json');
    expect(several.code).toBe(1);
    expect(JSON.parse(several.stdout)).toEqual([
      { target: 'a', ok: true, result: expect.objectContaining({ name: 'a', state: 'stopped' }) },
      { target: 'nope', ok: false, error: { status: 404, code: 'PIDVISOR_ERR_NOT_FOUND', detail: 'no service "nope"' } },
    ]);
    const one = await cli('start', 'a', '--json');
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ name: 'a', state: expect.stringMatching(/starting|running/) });
  });

  it('--label acts on the processes with every label given; --all on every process', async () => {
    await launch('front1', ['tier=front', 'zone=1']);
    await launch('front2', ['tier=front', 'zone=2']);
    await launch('back1', ['tier=back', 'zone=1']);
    const before = await listed();

    const restarted = await cli('restart', '--label', 'tier=front', '--label', 'zone=1', '--json');
    expect(restarted.code).toBe(0);
    expect((JSON.parse(restarted.stdout) as Array<{ target: string }>).map((r) => r.target)).toEqual(['front1']);
    const after = await listed();
    expect(after.get('front1')!.instance).not.toBe(before.get('front1')!.instance);
    expect(after.get('front2')!.instance).toBe(before.get('front2')!.instance);
    expect(after.get('back1')!.instance).toBe(before.get('back1')!.instance);

    const stopped = await cli('stop', '--label', 'tier=front');
    expect(stopped).toMatchObject({ code: 0, stderr: '' });
    expect(lines(stopped.stdout).sort()).toEqual(['front1: stopped', 'front2: stopped']);
    expect(alive(after.get('back1')!.pid)).toBe(true);
    expect(await cli('stop', '--label', 'tier=none')).toMatchObject({ code: 0, stdout: 'nothing matched\n' });

    const all = await cli('stop', '--all');
    expect(all).toMatchObject({ code: 0, stderr: '' });
    expect(lines(all.stdout).sort()).toEqual(['back1: stopped', 'front1: stopped', 'front2: stopped']);
    expect(alive(after.get('back1')!.pid)).toBe(false);
  });

  it('acts on more processes than run at once, each exactly once', async () => {
    const names = Array.from({ length: 11 }, (_, i) => `n${i}`);
    for (const name of names) await launch(name, ['set=big']);
    const result = await cli('stop', '--label', 'set=big', '--json');
    expect(result.code).toBe(0);
    const results = JSON.parse(result.stdout) as Array<{ target: string; ok: boolean }>;
    expect(results.map((r) => r.target).sort()).toEqual([...names].sort());
    expect(results.every((r) => r.ok)).toBe(true);
    for (const p of (await listed()).values()) expect(p.state).toBe('stopped');
  });

  it('signals several processes; a selected process that is not running is a failure and nothing is sent to it', async () => {
    const trap = ['sh', '-c', 'trap "echo got-usr1" USR1; echo ready; while :; do sleep 0.05; done'];
    for (const name of ['s1', 's2', 's3']) await launch(name, ['sig=yes'], trap);
    await launch('other', [], trap);
    for (const name of ['s1', 's2', 's3', 'other']) await logsInclude(name, 'ready');

    expect(await cli('signal', 's1', 's2', 'USR1')).toMatchObject({ code: 0, stdout: 'sent USR1 to s1\nsent USR1 to s2\n', stderr: '' });
    for (const name of ['s1', 's2']) await logsInclude(name, 'got-usr1');

    await cli('stop', 's1');
    const selected = await cli('signal', '--label', 'sig=yes', 'USR1', '--json');
    expect(selected.code).toBe(1);
    const results = JSON.parse(selected.stdout) as Array<{ target: string; ok: boolean; error?: { code: string } }>;
    expect(results.map((r) => [r.target, r.ok, r.error?.code])).toEqual([
      ['s1', false, 'PIDVISOR_ERR_NOT_RUNNING'],
      ['s2', true, undefined],
      ['s3', true, undefined],
    ]);
    await logsInclude('s3', 'got-usr1');
    expect((await cli('logs', 'other')).stdout).not.toContain('got-usr1');
  });

  it('refuses bad combinations as usage errors (exit 2), before acting', async () => {
    await launch('a');
    const pid = (await listed()).get('a')!.pid;
    for (const args of [
      ['stop'],
      ['stop', 'a', '--all'],
      ['stop', '--all', '--label', 'x=1'],
      ['stop', '--label', 'novalue'],
      ['stop', '--label', 'k=1', '--label', 'k=2'],
      ['restart', '--bogus'],
      ['signal', 'a'],
      ['signal', '--all'],
      ['signal', 'a', 'b', 'HUP', '--instance', 'x'],
      ['signal', '--all', 'HUP', '--instance', 'x'],
      ['signal', 'a', '--label', 'x=1', 'HUP'],
    ]) {
      const result = await cli(...args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(new RegExp(`^pidvisor ${args[0]}: `));
    }
    expect(alive(pid)).toBe(true);
    expect((await listed()).get('a')!.state).toBe('running');
  });
});

interface Inspection {
  process: Listed;
  spec: Record<string, unknown>;
  tree: Array<{ pid: number; ppid: number; command: string[] }>;
  exits: Array<{ instance: string; code: number | null; signal: string | null; reason: string }>;
}

async function inspect(name: string): Promise<Inspection> {
  const result = await cli('show', name, '--json');
  expect(result).toMatchObject({ code: 0, stderr: '' });
  const body = JSON.parse(result.stdout) as Inspection;
  expect([...Value.Errors(ProcessInspection, body)].map((e) => `${e.path}: ${e.message}`)).toEqual([]);
  return body;
}

/** Until the tree's commands are `commands` (in any order: children fork and exec when they will), bounded; returns it. */
async function treeOf(name: string, commands: string[]): Promise<Inspection['tree']> {
  const deadline = Date.now() + 10_000;
  const wanted = JSON.stringify([...commands].sort());
  for (;;) {
    const { tree } = await inspect(name);
    if (JSON.stringify(tree.map((p) => p.command.join(' ')).sort()) === wanted) return tree;
    if (Date.now() > deadline) throw new Error(`${name}'s tree is ${JSON.stringify(tree)}, not ${wanted}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// A child, a child that leaves the process group, and an orphan (its parent, a subshell, exits).
const FAMILY = ['sh', '-c', 'sleep 1001 & setsid sleep 1002 & (sleep 1003 &); wait'];
const MAIN = FAMILY.join(' ');

/** The `sleep 1002` that left the group `group` with setsid (a child of its leader still), once it has exec'd. */
async function escapedFrom(group: number): Promise<number> {
  let found: number | undefined;
  await pollUntil(() => {
    found = fs
      .readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .find((pid) => {
        try {
          const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
          return fields[1] === String(group) && fields[2] !== String(group) && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\x001002\x00';
        } catch {
          return false;
        }
      });
    return found !== undefined;
  }, 10_000);
  return found!;
}

describe.skipIf(unsupported !== null)(`pidvisor show${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('shows the definition as YAML with env values hidden, the tree from the cgroup, and the last exits', async () => {
    const secret = `s3cret-${process.pid}`;
    expect((await cli('run', '--name', 'fam', '--kill-mode', 'cgroup', '--env', `TOKEN=${secret}`, '--label', 'tier=back', '--', ...FAMILY)).code).toBe(0);
    const first = (await inspect('fam')).process;
    // The cgroup holds them all, the orphan too.
    const tree = await treeOf('fam', [MAIN, 'sleep 1001', 'sleep 1002', 'sleep 1003']);
    const main = tree.find((p) => p.command[0] === 'sh')!;
    expect(main.pid).toBe(first.pid);
    for (const p of tree.filter((q) => q.command[1] !== '1003' && q !== main)) expect(p.ppid).toBe(main.pid);

    expect((await cli('restart', 'fam')).code).toBe(0);
    const after = await inspect('fam');
    expect(after.exits).toEqual([expect.objectContaining({ instance: first.instance, reason: 'stopped', code: null, signal: 'SIGTERM' })]);
    expect(after.spec).toMatchObject({ name: 'fam', command: FAMILY, env: { TOKEN: '(hidden)' }, labels: { tier: 'back' } });

    await treeOf('fam', [MAIN, 'sleep 1001', 'sleep 1002', 'sleep 1003']);
    const text = await cli('show', 'fam');
    expect(text).toMatchObject({ code: 0, stderr: '' });
    expect(text.stdout).not.toContain(secret);
    expect(text.stdout).toMatch(/^state\s+(starting|running) \(\S.*\)$/m);
    expect(text.stdout).toMatch(/^definition:\n {2}command:\n {4}- sh\n {4}- -c\n/m);
    expect(text.stdout).toMatch(/^ {4}TOKEN: \(hidden\)$/m);
    const pidNow = after.process.pid;
    expect(text.stdout).toMatch(new RegExp(`^processes \\(cgroup mode\\):\n  ${pidNow}  sh -c .*\n {4}\\d+  sleep 100[12]\n {4}\\d+  sleep 100[12]\n  \\d+  sleep 1003\n`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^last exits \\(1\\):\n  ENDED\\s+INSTANCE\\s+PID\\s+EXIT\\s+REASON\\s+UPTIME\n  \\S+ \\(\\S+ ago\\)\\s+${first.instance!.replace('.', '\\.')}\\s+${first.pid}\\s+SIGTERM\\s+stopped\\s+\\S+$`, 'm'));
  });

  it('in group mode lists the process group, without what left it', async () => {
    expect((await cli('run', '--name', 'grp', '--kill-mode', 'group', '--', ...FAMILY)).code).toBe(0);
    const leader = (await inspect('grp')).process.pid!;
    const escaped = await escapedFrom(leader);
    try {
      const tree = await treeOf('grp', [MAIN, 'sleep 1001', 'sleep 1003']);
      expect(tree.map((p) => p.pid)).not.toContain(escaped);
      expect(tree.find((p) => p.command[0] === 'sh')!.pid).toBe(leader);
      expect((await cli('rm', 'grp')).code).toBe(0);
    } finally {
      process.kill(escaped, 'SIGKILL'); // it left the group, so a stop does not reach it
    }
  });

  it('in process mode lists the main process and its descendants, not an orphan', async () => {
    expect((await cli('run', '--name', 'proc', '--kill-mode', 'process', '--', ...FAMILY)).code).toBe(0);
    const leader = (await inspect('proc')).process.pid!;
    try {
      const tree = await treeOf('proc', [MAIN, 'sleep 1001', 'sleep 1002']);
      expect(tree.every((p) => p.pid === leader || p.ppid === leader)).toBe(true);
      // Listed once the orphan exists too: it is left out, not merely not started yet.
      await pollUntil(() => fs.readdirSync('/proc').some((n) => {
        try {
          return fs.readFileSync(`/proc/${n}/cmdline`, 'utf8') === 'sleep\x001003\x00';
        } catch {
          return false;
        }
      }), 10_000);
      expect((await inspect('proc')).tree.map((p) => p.command.join(' ')).sort()).toEqual([MAIN, 'sleep 1001', 'sleep 1002']);
    } finally {
      // Process mode stops only the main process: what it started is this test's to end, found
      // before the stop (its children by parent, the orphan by the group it stays in, as sh has no job control).
      const started = fs
        .readdirSync('/proc')
        .filter((n) => /^\d+$/.test(n) && Number(n) !== leader)
        .filter((n) => {
          try {
            const fields = fs.readFileSync(`/proc/${n}/stat`, 'utf8').split(') ')[1]!.split(' ');
            return fields[1] === String(leader) || fields[2] === String(leader);
          } catch {
            return false;
          }
        });
      expect((await cli('rm', 'proc')).code).toBe(0);
      for (const pid of started) process.kill(Number(pid), 'SIGKILL');
    }
  });

  it('shows a stopped process with no tree; an unknown name is exit 1, bad usage exit 2', async () => {
    expect((await cli('run', '--name', 'quiet', '--restart', 'no', '--', 'sh', '-c', 'exit 3')).code).toBe(0);
    expect((await cli('wait', 'quiet')).code).toBe(3);
    const shown = await inspect('quiet');
    expect(shown.tree).toEqual([]);
    expect(shown.exits).toEqual([expect.objectContaining({ code: 3, signal: null, reason: 'exited' })]);
    expect((await cli('show', 'quiet')).stdout).toMatch(/^processes \(\w+ mode\):\n {2}none$/m);
    expect(await cli('show', 'nope')).toMatchObject({ code: 1, stdout: '', stderr: 'pidvisor show: no service "nope" (PIDVISOR_ERR_NOT_FOUND)\n' });
    expect((await cli('show')).code).toBe(2);
    expect((await cli('show', 'a', 'b')).code).toBe(2);
    expect((await cli('show', '--help')).stdout).toMatch(/^Usage: pidvisor show ID\|NAME/);
    expect((await cli('--help')).stdout).toMatch(/^ {2}show {2,}Show one process in full/m);
  });
});

describe.skipIf(unsupported !== null)(`pidvisor events${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('says how each instance ended: code or signal, and why', async () => {
    const events = spawnWithLibuv(process.execPath, [PIDVISOR_BIN, 'events', '--after', '0'], { env: { ...process.env, PIDVISOR_SOCKET: socket } });
    let text = '';
    events.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    try {
      // --after 0 replays what happened before the stream opened: nothing is missed.
      expect((await cli('run', '--name', 'coded', '--restart', 'no', '--', 'sh', '-c', 'exit 3')).code).toBe(0);
      await launch('slept');
      const slept = (await listed()).get('slept')!;
      await cli('stop', 'slept');
      await pollUntil(() => / exit slept /.test(text) && / exit coded /.test(text), 10_000);
      expect(text).toMatch(/ exit coded pid \d+ instance \S+ code 3 \(exited\)\n/);
      expect(text).toContain(` exit slept pid ${slept.pid} instance ${slept.instance} signal SIGTERM (stopped)\n`);
    } finally {
      events.kill('SIGTERM');
    }
  });
});

describe.skipIf(unsupported !== null)(`pidvisor logs${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('filters by stream and by time, and marks each line with its stream and time on request', async () => {
    expect((await cli('run', '--name', 'talk', '--restart', 'no', '--', 'sh', '-c', 'echo out1; echo err1 >&2; echo out2')).code).toBe(0);
    await cli('wait', 'talk');
    expect(await cli('logs', 'talk')).toMatchObject({ code: 0, stdout: 'out1\nout2\n', stderr: 'err1\n' });
    expect(await cli('logs', 'talk', '--stdout')).toMatchObject({ code: 0, stdout: 'out1\nout2\n', stderr: '' });
    expect(await cli('logs', 'talk', '--stderr')).toMatchObject({ code: 0, stdout: '', stderr: 'err1\n' });
    expect(await cli('logs', 'talk', '--prefix')).toMatchObject({ code: 0, stdout: 'stdout out1\nstdout out2\n', stderr: 'stderr err1\n' });
    expect((await cli('logs', 'talk', '--stdout', '--timestamps', '--prefix')).stdout).toMatch(/^\d{4}-\d\d-\d\dT\S+Z stdout out1\n\S+ stdout out2\n$/);

    expect(await cli('logs', 'talk', '--since', '1h')).toMatchObject({ code: 0, stdout: 'out1\nout2\n', stderr: 'err1\n' });
    const records = lines((await cli('logs', 'talk', '--json')).stdout).map((line) => JSON.parse(line) as { time: string; data: string });
    const last = records.at(-1)!;
    // From the last record's own time: only the records captured at or after it.
    const fromLast = await cli('logs', 'talk', '--since', last.time, '--json');
    expect(lines(fromLast.stdout).map((line) => (JSON.parse(line) as { time: string }).time).every((time) => time >= last.time)).toBe(true);
    expect(lines(fromLast.stdout).length).toBe(records.filter((r) => r.time >= last.time).length);
    expect(await cli('logs', 'talk', '--since', new Date(Date.parse(last.time) + 1).toISOString())).toMatchObject({ code: 0, stdout: '', stderr: '' });

    for (const args of [['--stdout', '--stderr'], ['--stream', 'stdout', '--stderr'], ['--since', 'yesterday'], ['--since', '10x'], ['--stream', 'both']]) {
      const result = await cli('logs', 'talk', ...args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
    }
  });
});

describe('pidvisor version and completion', () => {
  it('prints the version, alone or as JSON', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(PIDVISOR_BIN), '../../package.json'), 'utf8')) as { version: string };
    expect(await cli('version')).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    expect(JSON.parse((await cli('version', '--json')).stdout)).toEqual({ version: pkg.version });
    expect((await cli('version', 'extra')).code).toBe(2);
  });

  it('prints a bash script that parses, and completes commands and their options in a real bash', async () => {
    const script = await cli('completion', 'bash');
    expect(script).toMatchObject({ code: 0, stderr: '' });
    const file = path.join(dir, 'completion.bash');
    fs.writeFileSync(file, script.stdout);
    const complete = (...words: string[]): Promise<string[]> =>
      new Promise((resolve, reject) => {
        const program = `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _pidvisor; printf '%s\\n' "\${COMPREPLY[@]}"`;
        execFile('bash', ['--norc', '-c', program], { timeout: 10_000 }, (error, stdout) => (error === null ? resolve(lines(stdout)) : reject(error)));
      });
    expect(await new Promise((resolve) => execFile('bash', ['-n', file], (error) => resolve(error)))).toBeNull();
    expect(await complete('pidvisor', 'st')).toEqual(['status', 'start', 'stop', 'startup']);
    const all = await complete('pidvisor', '');
    for (const name of ['run', 'ps', 'show', 'stop', 'signal', 'logs', 'events', 'version', 'completion']) expect(all).toContain(name);
    expect(await complete('pidvisor', 'stop', '--a')).toEqual(['--all']);
    expect(await complete('pidvisor', 'logs', '--std')).toEqual(['--stdout', '--stderr']);
    expect(await complete('pidvisor', 'ps', '--so')).toEqual(['--socket']); // the connection options of client commands
    expect(await complete('pidvisor', 'completion', '--so')).toEqual([]);
  });

  it('prints zsh and fish scripts that name every command and its options; another shell is a usage error', async () => {
    const zsh = await cli('completion', 'zsh');
    expect(zsh.stdout).toMatch(/^#compdef pidvisor\n/);
    expect(zsh.stdout).toMatch(/^ {4}'show:Show one process in full/m);
    expect(zsh.stdout).toMatch(/^ {6}stop\) _arguments '--label' '--all' '--timeout' /m);
    const fish = await cli('completion', 'fish');
    expect(fish.stdout).toContain("complete -c pidvisor -n __fish_use_subcommand -a signal -d 'Send a signal");
    expect(fish.stdout).toContain("complete -c pidvisor -n '__fish_seen_subcommand_from logs' -l since");
    expect((await cli('completion', 'tcsh')).code).toBe(2);
    expect((await cli('completion')).code).toBe(2);
  });
});
