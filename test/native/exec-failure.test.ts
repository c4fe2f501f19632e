// A program that cannot be started is a typed error with the errno name and the stage,
// never an exit status, and it leaves no zombie and no fd behind.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason, spawn, SpawnError, type SpawnOptions } from '../../native/index.js';
import { isRoot, openFds, zombieChildren } from '../helpers/proc.js';
import { missingTool } from '../helpers/tools.js';

const unsupported = pidfdUnsupportedReason();
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
let dir = '';

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-exec-'));
  fs.writeFileSync(path.join(dir, 'not-executable'), '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'bad-format'), 'neither ELF nor a #! script\n', { mode: 0o755 });
  fs.mkdirSync(path.join(dir, 'a-directory'));
  // The layer opens /dev/null once, on first use, and keeps it for every later spawn.
  return spawn({ command: 'true' }).wait().then(() => undefined);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function expectSpawnError(options: SpawnOptions, code: string, stage: string): void {
  const fdsBefore = openFds();
  let caught: unknown;
  try {
    spawn(options);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(SpawnError);
  expect(caught).toMatchObject({ code, stage, command: options.command });
  if (stage !== 'options') expect((caught as SpawnError).message).toContain(code);
  expect(zombieChildren()).toEqual([]);
  expect(openFds()).toEqual(fdsBefore);
}

describe.skipIf(unsupported !== null)(`exec failures${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it.each([
    ['a missing file', () => ({ command: path.join(dir, 'missing') }), 'ENOENT', 'execve'],
    ['a command not on PATH', () => ({ command: 'pidvisor-no-such-command', env: { PATH: `${dir}:/usr/bin` } }), 'ENOENT', 'execve'],
    ['a file without the execute bit', () => ({ command: path.join(dir, 'not-executable') }), 'EACCES', 'execve'],
    ['a directory', () => ({ command: path.join(dir, 'a-directory') }), 'EACCES', 'execve'],
    ['an executable of unknown format', () => ({ command: path.join(dir, 'bad-format') }), 'ENOEXEC', 'execve'],
    ['a missing working directory', () => ({ command: 'true', cwd: path.join(dir, 'missing') }), 'ENOENT', 'chdir'],
    ['a working directory that is a file', () => ({ command: 'true', cwd: path.join(dir, 'bad-format') }), 'ENOTDIR', 'chdir'],
    ['an fd that is not open', () => ({ command: 'true', stdio: ['null', { fd: 999_999 }, 'inherit'] }), 'EBADF', 'fds'],
    ['a hard rlimit raised without privilege', () => ({ command: 'true', rlimits: { nofile: 1 << 30 } }), 'EPERM', 'rlimit'],
  ] as Array<[string, () => SpawnOptions, string, string]>)('refuses %s', (_, options, code, stage) => {
    expectSpawnError(options(), code, stage);
  });

  it('stops at the first searched directory that has the command, as execvp does', async () => {
    fs.writeFileSync(path.join(dir, 'first'), '#!/bin/sh\nexit 5\n', { mode: 0o755 });
    const child = spawn({ command: 'first', env: { PATH: `/nonexistent:${dir}:/usr/bin` } });
    expect((await child.wait()).code).toBe(5);
  });

  it('rejects options the kernel would silently misread, before any process exists', () => {
    for (const options of [
      { command: 'echo', args: ['cut\0short'] },
      { command: 'echo', env: { 'A=B': 'x' } },
      { command: 'echo', env: { A: 'x\0y' } },
      { command: '' },
      { command: 'echo', uid: 65534 },
      { command: 'echo', umask: 0o1000 },
      { command: 'echo', rlimits: { bogus: 1 } as never },
      { command: 'echo', stdio: ['nope', 'inherit', 'inherit'] as never },
      { command: 'echo', parentDeathSignal: 'SIGNOPE' as never },
      // More fds than a child's plan holds (1,024): was stage "clone", code EUNKNOWN.
      { command: 'echo', extraFds: new Array<number>(1100).fill(2) },
    ] as SpawnOptions[]) {
      expectSpawnError(options, 'EINVAL', 'options');
    }
  });

  // The stage says which step failed; `syscall` which call within it (the fd plan alone makes
  // several kinds: the unshare of the table, the moves out of the way, the dup2s). It used to
  // repeat the stage.
  it('names the syscall that failed within its stage', () => {
    const failure = (options: SpawnOptions): unknown => {
      try {
        spawn(options);
      } catch (error) {
        return error;
      }
      return undefined;
    };
    expect(failure({ command: 'true', stdio: ['null', { fd: 999_999 }, 'inherit'] })).toMatchObject({ stage: 'fds', syscall: 'dup2', code: 'EBADF' });
    expect(failure({ command: 'true', cwd: path.join(dir, 'missing') })).toMatchObject({ stage: 'chdir', syscall: 'chdir', code: 'ENOENT' });
    expect(failure({ command: 'true', rlimits: { nofile: 1 << 30 } })).toMatchObject({ stage: 'rlimit', syscall: 'prlimit64', code: 'EPERM' });
    expect(failure({ command: path.join(dir, 'missing') })).toMatchObject({ stage: 'execve', syscall: 'execve', code: 'ENOENT' });
    const dup2 = failure({ command: 'true', stdio: ['null', { fd: 999_999 }, 'inherit'] }) as SpawnError;
    expect(dup2.message).toContain('fds: dup2: ');
  });

  // A source inside the plan's own range is first moved above it; with the plan as large as
  // RLIMIT_NOFILE that move fails (EINVAL). Run under prlimit, in a process of its own.
  const noPrlimit = missingTool('prlimit', 'util-linux');
  it.skipIf(noPrlimit !== null)(`names fcntl(F_DUPFD_CLOEXEC) when a source cannot be moved out of the way${noPrlimit ? ` (skipped: ${noPrlimit})` : ''}`, () => {
    const options: SpawnOptions = { command: '/bin/true', stdio: [{ fd: 1 }, 'inherit', 'inherit'], extraFds: new Array<number>(61).fill(2) };
    const out = execFileSync('prlimit', ['--nofile=64:64', process.execPath, path.join(fixtures, 'spawn-as-caller.mjs'), JSON.stringify(options)], {
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toMatchObject({ ok: false, name: 'SpawnError', code: 'EINVAL', stage: 'fds', syscall: 'fcntl(F_DUPFD_CLOEXEC)' });
  });

  it.skipIf(!isRoot())('reports setuid refused for an unprivileged caller, with the stage (needs root to switch to nobody)', () => {
    const fixture = path.join(fixtures, 'spawn-as-caller.mjs');
    const run = (options: SpawnOptions): Record<string, unknown> =>
      JSON.parse(execFileSync(process.execPath, [fixture, JSON.stringify(options)], { uid: 65534, gid: 65534, encoding: 'utf8' })) as Record<string, unknown>;
    expect(run({ command: '/bin/true', uid: 0, gid: 65534 })).toMatchObject({ ok: false, name: 'SpawnError', code: 'EPERM', stage: 'setuid' });
    expect(run({ command: '/bin/true', uid: 65534, gid: 0 })).toMatchObject({ ok: false, name: 'SpawnError', code: 'EPERM', stage: 'setgid' });
    expect(run({ command: '/bin/true', uid: 0, gid: 0, groups: [0] })).toMatchObject({ ok: false, name: 'SpawnError', code: 'EPERM', stage: 'setgroups' });
    expect(run({ command: '/bin/true' })).toMatchObject({ ok: true, exit: { code: 0 } }); // control: the fixture works
  });

  const notX64 = process.arch !== 'x64' ? `the seccomp fixture is x86_64 only (this is ${process.arch})` : null;
  it.skipIf(notX64 !== null)(`kills and reaps a child it cannot watch, and reports it: no process, pipe or fd left behind${notX64 ? ` (skipped: ${notX64})` : ''}`, () => {
    const seccomp = path.join(dir, 'seccomp-enosys');
    execFileSync('cc', ['-O2', '-Wall', '-Werror', '-o', seccomp, path.join(fixtures, 'seccomp-enosys.c')]);
    // epoll_ctl fails with ENOSPC (as past fs.epoll.max_user_watches) on fds >= 256, where
    // the addon keeps its epoll set; libuv's own epoll fd is low and keeps working.
    const run = (rule: string) =>
      JSON.parse(execFileSync(seccomp, [rule, process.execPath, path.join(fixtures, 'watch-failure-report.mjs')], { encoding: 'utf8', timeout: 20_000 }));
    expect(run('233@256')).toEqual({ error: { name: 'SpawnError', code: 'ENOSPC', stage: 'watch' }, children: [], leaked: [] });
    // Control: with a rule that never matches, the spawns succeed and the report sees their
    // children (not yet reaped) and the new fds (the pidfd, the pipes).
    const control = run('233@100000');
    expect(control.error).toBeNull();
    expect(control.children.length).toBeGreaterThan(0);
    expect(control.leaked.length).toBeGreaterThan(0);
  });
});
