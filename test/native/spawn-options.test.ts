// Each spawn option, verified on the real child through /proc, on both clone paths.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { capabilities, pidfdUnsupportedReason, spawn, type ChildProcess, type SignalName, type SpawnOptions } from '../../native/index.js';
import { echoThroughPipes, fdFlags, isRoot, O_CLOEXEC, O_NONBLOCK, openFds, procStat, procStatus, waitUntilAsleep } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
const methods = ['clone3', 'clone'] as const;
const started: ChildProcess[] = [];

/** A child that blocks until killed, already asleep, so its state can be read from /proc. */
function startSleeper(options: Partial<SpawnOptions> = {}): ChildProcess {
  const child = spawn({ command: 'sleep', args: ['1000'], ...options });
  started.push(child);
  waitUntilAsleep(child.pid);
  return child;
}

afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitStatus === undefined) {
      child.signal('SIGKILL');
      await child.wait();
    }
  }
});

describe.skipIf(unsupported !== null)(`spawn options${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  describe.each(methods)('via %s', (method) => {
    it.skipIf(method === 'clone3' && !capabilities().features.clone3.ok)('reports the clone it used', () => {
      expect(startSleeper({ method }).spawnMethod).toBe(method);
    });

    it('resets every signal disposition and empties the mask, though the parent ignores SIGPIPE', () => {
      const ignored = BigInt(`0x${procStatus('self').get('SigIgn')}`);
      expect(ignored & (1n << 12n)).not.toBe(0n); // negative control: Node ignores SIGPIPE (13)
      const status = procStatus(startSleeper({ method }).pid);
      expect(status.get('SigIgn')).toBe('0000000000000000');
      expect(status.get('SigBlk')).toBe('0000000000000000');
      expect(status.get('SigCgt')).toBe('0000000000000000');
    });

    it('starts the program with the signals it is asked to ignore and block, and only those', () => {
      // tini's sigconf set: SIGINT, SIGSEGV, SIGTTOU ignored; SIGILL, SIGTERM, SIGTTIN blocked.
      const status = procStatus(
        startSleeper({ method, signals: { ignored: ['SIGINT', 'SIGSEGV', 'SIGTTOU'], blocked: ['SIGILL', 'SIGTERM', 21] } }).pid,
      );
      const set = (...numbers: number[]): string => numbers.reduce((mask, n) => mask | (1n << BigInt(n - 1)), 0n).toString(16).padStart(16, '0');
      expect(status.get('SigIgn')).toBe(set(2, 11, 22));
      expect(status.get('SigBlk')).toBe(set(4, 15, 21));
    });

    it('refuses to ignore or block SIGKILL and SIGSTOP, and an unknown signal, before anything starts', () => {
      expect(() => spawn({ command: 'true', method, signals: { ignored: ['SIGKILL'] } })).toThrow(/signals\.ignored: SIGKILL and SIGSTOP/);
      expect(() => spawn({ command: 'true', method, signals: { blocked: ['SIGSTOP'] } })).toThrow(/signals\.blocked: SIGKILL and SIGSTOP/);
      expect(() => spawn({ command: 'true', method, signals: { blocked: ['SIGNOPE' as SignalName] } })).toThrow(/signals\.blocked: unknown signal/);
    });

    it('gives the child exactly the planned fd table', () => {
      const extra = fs.openSync(os.tmpdir(), 'r');
      const [dupSource] = [fs.openSync('/dev/zero', 'r')];
      try {
        const child = startSleeper({ method, stdio: ['null', { fd: dupSource }, 'inherit'], extraFds: [extra] });
        expect(openFds(child.pid)).toEqual([0, 1, 2, 3]);
        expect(fs.readlinkSync(`/proc/${child.pid}/fd/0`)).toBe('/dev/null');
        expect(fs.readlinkSync(`/proc/${child.pid}/fd/1`)).toBe('/dev/zero');
        expect(fs.readlinkSync(`/proc/${child.pid}/fd/2`)).toBe(fs.readlinkSync('/proc/self/fd/2'));
        expect(fs.statSync(`/proc/${child.pid}/fd/3`).ino).toBe(fs.fstatSync(extra).ino);
        for (const fd of [0, 1, 2, 3]) expect(fdFlags(fd, child.pid) & O_CLOEXEC).toBe(0);
      } finally {
        fs.closeSync(extra);
        fs.closeSync(dupSource);
      }
    });

    it('handles fd plans whose sources overlap their targets', () => {
      // Child fd 0 <- our fd 1's file, fd 1 <- our fd 0's: a naive dup2 order would clobber one.
      const a = fs.openSync('/dev/zero', 'r');
      const b = fs.openSync('/dev/null', 'r');
      try {
        const child = startSleeper({ method, stdio: [{ fd: a }, { fd: b }, { fd: a }], extraFds: [b] });
        expect(['0', '1', '2', '3'].map((fd) => fs.readlinkSync(`/proc/${child.pid}/fd/${fd}`))).toEqual([
          '/dev/zero', '/dev/null', '/dev/zero', '/dev/null',
        ]);
      } finally {
        fs.closeSync(a);
        fs.closeSync(b);
      }
    });

    it('sets cwd, umask, rlimits and no_new_privs', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-cwd-'));
      try {
        const child = startSleeper({
          method,
          cwd: dir,
          umask: 0o027,
          rlimits: { nofile: { soft: 123, hard: 456 }, core: 0, nproc: { soft: 500, hard: 1000 }, fsize: 'unlimited' },
          noNewPrivileges: true,
        });
        expect(fs.readlinkSync(`/proc/${child.pid}/cwd`)).toBe(dir);
        const status = procStatus(child.pid);
        expect(status.get('Umask')).toBe('0027');
        expect(status.get('NoNewPrivs')).toBe('1');
        const limits = fs.readFileSync(`/proc/${child.pid}/limits`, 'utf8');
        expect(limits).toMatch(/Max open files\s+123\s+456\s+files/);
        expect(limits).toMatch(/Max core file size\s+0\s+0\s+bytes/);
        expect(limits).toMatch(/Max processes\s+500\s+1000/);
        expect(limits).toMatch(/Max file size\s+unlimited\s+unlimited/);
      } finally {
        fs.rmSync(dir, { recursive: true });
      }
    });

    it('passes argv, argv0 and exactly the given environment', () => {
      const child = startSleeper({ method, argv0: 'renamed-sleep', env: { ONLY: 'this', PATH: '/usr/bin:/bin' } });
      expect(fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8')).toBe('renamed-sleep\u00001000\u0000');
      expect(fs.readFileSync(`/proc/${child.pid}/environ`, 'utf8')).toBe('ONLY=this\u0000PATH=/usr/bin:/bin\u0000');
    });

    it("passes this process's own environment when none is given, changes made through process.env included", () => {
      process.env.PIDVISOR_TEST_INHERITED = `yes-${method}`;
      try {
        const environ = fs.readFileSync(`/proc/${startSleeper({ method }).pid}/environ`, 'utf8').split('\u0000');
        expect(environ).toContain(`PIDVISOR_TEST_INHERITED=yes-${method}`);
        expect(environ).toContain(`PATH=${process.env.PATH}`);
      } finally {
        delete process.env.PIDVISOR_TEST_INHERITED;
      }
    });

    it('starts a new session, a new process group, or neither', () => {
      const [, , ourGroup, ourSession] = procStat(process.pid);
      const session = startSleeper({ method, detach: 'session' });
      expect(procStat(session.pid).slice(2, 4)).toEqual([String(session.pid), String(session.pid)]);
      const group = startSleeper({ method, detach: 'group' });
      expect(procStat(group.pid).slice(2, 4)).toEqual([String(group.pid), ourSession]);
      const none = startSleeper({ method });
      expect(procStat(none.pid).slice(2, 4)).toEqual([ourGroup, ourSession]);
    });

    it.skipIf(!isRoot())('switches uid, gid and supplementary groups (needs root)', () => {
      const child = startSleeper({ method, uid: 65534, gid: 65534, groups: [65534, 100] });
      const status = procStatus(child.pid);
      expect(status.get('Uid')!.split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
      expect(status.get('Gid')!.split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
      expect(status.get('Groups')).toBe('100 65534');
      const noGroups = startSleeper({ method, uid: 65534, gid: 65534 });
      expect(procStatus(noGroups.pid).get('Groups')).toBe(''); // root's groups are dropped by default
    });

    const cgroupRoot = capabilities().cgroup2Mount;
    it.skipIf(cgroupRoot === null || !isRoot())('starts the child inside the given cgroup v2 directory (needs root and cgroup2)', async () => {
      const dir = path.join(cgroupRoot!, `pidvisor-test-${process.pid}-${method}`);
      fs.mkdirSync(dir);
      try {
        const child = startSleeper({ method, cgroup: dir });
        const line = fs.readFileSync(`/proc/${child.pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
        expect(line).toBe(`0::/${path.basename(dir)}`);
        child.signal('SIGKILL');
        await child.wait();
      } finally {
        fs.rmdirSync(dir);
      }
    });

    it('connects pipes: the daemon end non-blocking and close-on-exec, the child end blocking', async () => {
      const child = spawn({ command: 'cat', method, stdio: ['pipe', 'pipe', 'inherit'] });
      started.push(child);
      const daemonFd = (child.stdout as unknown as { _handle: { fd: number } })._handle.fd;
      expect(fdFlags(daemonFd) & O_NONBLOCK).toBe(O_NONBLOCK);
      expect(fdFlags(daemonFd) & O_CLOEXEC).toBe(O_CLOEXEC);
      expect(fdFlags(0, child.pid) & O_NONBLOCK).toBe(0);
      expect(fdFlags(1, child.pid) & O_NONBLOCK).toBe(0);
      expect(await echoThroughPipes(child, 'through the pipe\n')).toBe('through the pipe\n');
      expect((await child.wait()).code).toBe(0);
    });

    it('holds the child by a close-on-exec pidfd and names it by pid and pidfs inode', () => {
      const child = startSleeper({ method });
      expect(child.pidfd).toBeGreaterThan(2);
      expect(fdFlags(child.pidfd) & O_CLOEXEC).toBe(O_CLOEXEC);
      expect(fs.readlinkSync(`/proc/self/fd/${child.pidfd}`)).toMatch(/pidfd/);
      expect(child.instance.startsWith(`${child.pid}.`)).toBe(true);
      expect(startSleeper({ method }).instance).not.toBe(child.instance);
    });
  });
});
