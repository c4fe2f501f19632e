// The Supervisor's captured output goes through PipeReaders (native/pipe-reader.ts), not
// sockets: every line of short-lived services reaches the logs, and launching, waiting for and
// removing them leaves no pipe open and no fd in an epoll set.
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { PipeReader, pidfdUnsupportedReason } from '../../native/index.js';
import { pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
let t: TestSupervisor | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** This process's pipe fds, as "fd -> pipe:[inode]". */
function openPipes(): string[] {
  return fs.readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith('pipe:') ? [`${fd} -> ${target}`] : [];
    } catch {
      return []; // the readdir's own fd
    }
  });
}

/** How many epoll sets of this process watch `fd` (each set's fdinfo lists its fds as "tfd: N"). */
function epollSetsWatching(fd: number): number {
  let sets = 0;
  for (const entry of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${entry}`) !== 'anon_inode:[eventpoll]') continue;
      if (new RegExp(`^tfd:\\s+${fd}\\s`, 'm').test(fs.readFileSync(`/proc/self/fdinfo/${entry}`, 'utf8'))) sets++;
    } catch {
      // closed while we looked
    }
  }
  return sets;
}

describe.skipIf(unsupported !== null)(`captured output through PipeReaders${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('captures every line of short-lived services, and launch + wait + remove leaves no pipe open', async () => {
    t = createTestSupervisor();
    const { supervisor } = t;
    // The first launch opens what stays open (the log directory's files are per service).
    const warm = await supervisor.launch({ command: ['true'], restart: { policy: 'no' } });
    await supervisor.wait(warm.id);
    await supervisor.remove(warm.id);
    const before = openPipes();
    for (let i = 0; i < 30; i++) {
      const info = await supervisor.launch({ command: ['sh', '-c', `echo out-${i}; echo err-${i} >&2`], restart: { policy: 'no' } });
      await supervisor.wait(info.id);
      const logs = supervisor.service(info.id).logs!;
      await logs.ended();
      const records = logs.tail().map((record) => `${record.stream}:${record.data.toString()}`);
      expect(records.sort()).toEqual([`stderr:err-${i}`, `stdout:out-${i}`]);
      await supervisor.remove(info.id);
    }
    expect(openPipes()).toEqual(before);
  });

  it('reads a running service through a PipeReader the loop polls, closed and unpolled once the service is removed', async () => {
    t = createTestSupervisor();
    const { supervisor } = t;
    const info = await supervisor.launch({ name: 'talker', command: ['sh', '-c', 'echo ready; exec sleep 1000'] });
    const service = supervisor.service(info.id);
    const stdout = service.outputs.stdout;
    expect(stdout).toBeInstanceOf(PipeReader);
    const fd = stdout!.fd;
    const pipe = fs.readlinkSync(`/proc/self/fd/${fd}`);
    expect(pipe).toMatch(/^pipe:/);
    await pollUntil(() => service.logs!.tail().length > 0, 10_000);
    expect(service.logs!.tail()[0]!.data.toString()).toBe('ready');
    expect(epollSetsWatching(fd)).toBe(1);
    await supervisor.remove(info.id);
    expect(stdout!.closed).toBe(true);
    expect(epollSetsWatching(fd)).toBe(0);
    expect(openPipes().some((entry) => entry.endsWith(pipe))).toBe(false);
  });
});
