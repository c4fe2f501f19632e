// PipeReader (native/pipe-reader.ts, native/src/pipe_reader.cc) on real children's pipes: what
// output capture relies on. Each read lands in the caller's buffer, EOF and errors come once
// with the fd closed, pause() is exact, close() never leaves an fd open or polled.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { dupFd, openProcess, PipeReader, pidfdUnsupportedReason, spawn, SystemError, type ChildProcess } from '../../native/index.js';
import { openFds, pollUntil } from '../helpers/proc.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const unsupported = pidfdUnsupportedReason();
const started: ChildProcess[] = [];
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-pipe-reader-'));

afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitStatus === undefined) {
      child.signal('SIGKILL');
      await child.wait();
    }
  }
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function run(script: string, stdio: ['null', 'reader' | 'null', 'reader' | 'null'] = ['null', 'reader', 'null']): ChildProcess {
  const child = spawn({ command: '/bin/sh', args: ['-c', script], stdio });
  started.push(child);
  return child;
}

interface Collected {
  chunks: Buffer[];
  capacities: number[];
  ends: Array<SystemError | null>;
}

function collect(reader: PipeReader, buffer: Buffer = Buffer.alloc(64 << 10)): Collected {
  const got: Collected = { chunks: [], capacities: [], ends: [] };
  reader.read(buffer, {
    onData: (chunk, capacity) => {
      got.chunks.push(Buffer.from(chunk));
      got.capacities.push(capacity);
    },
    onEnd: (error) => got.ends.push(error),
  });
  return got;
}

/** Lets the event loop run `turns` times (each runs libuv's poll phase once). */
async function loopTurns(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** How many epoll sets of this process watch `fd` (each set's fdinfo lists its fds as "tfd: N"). */
function epollSetsWatching(fd: number): number {
  let sets = 0;
  for (const entry of fs.readdirSync('/proc/self/fd')) {
    let link: string;
    try {
      link = fs.readlinkSync(`/proc/self/fd/${entry}`);
    } catch {
      continue; // the fd the readdir itself used
    }
    if (link !== 'anon_inode:[eventpoll]') continue;
    const info = fs.readFileSync(`/proc/self/fdinfo/${entry}`, 'utf8');
    if (new RegExp(`^tfd:\\s+${fd}\\s`, 'm').test(info)) sets++;
  }
  return sets;
}

/** Whether `fd` still names the file whose inode was `ino` (a closed number may be reused). */
function stillOpen(fd: number, ino: number): boolean {
  try {
    return fs.fstatSync(fd).ino === ino;
  } catch {
    return false;
  }
}

describe.skipIf(unsupported !== null)(`PipeReader${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('reads a child\'s output byte for byte into the given buffer, then EOF once, with its fd closed', async () => {
    // 300,000 bytes of distinct lines, read through a 4 KiB buffer: many full reads per wake-up.
    const child = run('seq 1 100000 | head -c 300000');
    const reader = child.stdoutReader!;
    const fd = reader.fd;
    const ino = fs.fstatSync(fd).ino;
    expect(child.stdout).toBeNull(); // 'reader' is not a socket
    const got = collect(reader, Buffer.alloc(4096));
    await child.wait();
    await pollUntil(() => got.ends.length > 0, 10_000);
    await loopTurns(5);
    const expected = Buffer.from(Array.from({ length: 100000 }, (_, i) => `${i + 1}\n`).join('')).subarray(0, 300000);
    expect(Buffer.concat(got.chunks).equals(expected)).toBe(true);
    expect(got.chunks.length).toBeGreaterThanOrEqual(300000 / 4096);
    expect(got.capacities.every((capacity) => capacity === 4096)).toBe(true);
    expect(got.ends).toEqual([null]);
    expect(reader.closed).toBe(true);
    expect(reader.fd).toBe(-1);
    expect(stillOpen(fd, ino)).toBe(false);
  });

  it('switches buffers between reads: each read lands in the one set last', async () => {
    const child = run('head -c 200000 /dev/zero | tr "\\0" x');
    const reader = child.stdoutReader!;
    const small = Buffer.alloc(1000);
    const large = Buffer.alloc(50000);
    const capacities: number[] = [];
    let bytes = 0;
    let ended = false;
    reader.read(small, {
      onData: (chunk, capacity) => {
        capacities.push(capacity);
        bytes += chunk.length;
        expect(chunk.every((byte) => byte === 0x78)).toBe(true);
        reader.readInto(capacities.length % 2 === 1 ? large : small);
      },
      onEnd: () => (ended = true),
    });
    await child.wait();
    await pollUntil(() => ended, 10_000);
    expect(bytes).toBe(200000);
    expect(capacities.slice(0, 4)).toEqual([1000, 50000, 1000, 50000]);
  });

  it('pause() stops reading at once and resume() goes on where it stopped, nothing lost or read twice', async () => {
    // The child writes a first line, waits for a FIFO, then writes a second one and exits.
    const gate = path.join(root, 'gate');
    fs.rmSync(gate, { force: true });
    const mk = spawn({ command: 'mkfifo', args: [gate] });
    expect((await mk.wait()).code).toBe(0);
    const child = run(`echo first; read _ < "${gate}"; echo second; head -c 100000 /dev/zero`);
    const reader = child.stdoutReader!;
    const got = collect(reader);
    await pollUntil(() => got.chunks.length > 0, 10_000);
    expect(Buffer.concat(got.chunks).toString()).toBe('first\n');
    expect(epollSetsWatching(reader.fd)).toBe(1); // libuv's
    reader.pause();
    expect(reader.paused).toBe(true);
    // Out of libuv's epoll set at once: a paused pipe that fills never wakes the loop.
    expect(epollSetsWatching(reader.fd)).toBe(0);
    fs.writeFileSync(gate, 'go\n'); // blocks until the child opened it: it goes on writing
    // The child writes 100,007 bytes: its pipe (64 KiB) fills and it blocks, nothing is read.
    await loopTurns(50);
    expect(got.chunks.length).toBe(1);
    expect(child.exitStatus).toBeUndefined();
    expect(epollSetsWatching(reader.fd)).toBe(0);
    reader.resume();
    await child.wait();
    await pollUntil(() => got.ends.length > 0, 10_000);
    const all = Buffer.concat(got.chunks);
    expect(all.subarray(0, 13).toString()).toBe('first\nsecond\n');
    expect(all.length).toBe(13 + 100000);
    expect(got.ends).toEqual([null]);
  });

  it('close() while a child writes: no callback after it, the fd is closed, the child gets EPIPE, a second close is nothing', async () => {
    const child = run('while :; do echo tick || exit 7; done');
    const reader = child.stdoutReader!;
    const fd = reader.fd;
    const ino = fs.fstatSync(fd).ino;
    const got = collect(reader);
    let closedCalls = 0;
    reader.onClose(() => closedCalls++);
    await pollUntil(() => got.chunks.length > 0, 10_000);
    expect(epollSetsWatching(fd)).toBe(1);
    reader.close();
    // Out of the epoll set before the fd is closed: the number may be reused at once.
    expect(epollSetsWatching(fd)).toBe(0);
    const seen = got.chunks.length;
    reader.close();
    expect(reader.closed).toBe(true);
    expect(closedCalls).toBe(1);
    // The pipe's only read end was ours: the child's next write fails (SIGPIPE, or EPIPE).
    const exit = await child.wait();
    expect(exit.signal === 'SIGPIPE' || exit.code === 7).toBe(true);
    await loopTurns(10);
    expect(got.chunks.length).toBe(seen);
    expect(got.ends).toEqual([]); // closed by its owner: no EOF report
    expect(stillOpen(fd, ino)).toBe(false);
  });

  it('leaves no fd behind over many children read to EOF, closed early or never started', async () => {
    // Warm up whatever the first spawn opens once (/dev/null, the exit poller's epoll set).
    await run('true', ['null', 'reader', 'reader']).wait();
    await loopTurns(5);
    const before = openFds();
    for (let i = 0; i < 40; i++) {
      const child = run('echo out; echo err >&2', ['null', 'reader', 'reader']);
      const out = collect(child.stdoutReader!);
      if (i % 2 === 0) collect(child.stderrReader!);
      else child.stderrReader!.close(); // never started
      await child.wait();
      await pollUntil(() => out.ends.length > 0, 10_000);
      if (i % 4 === 0) child.stderrReader!.close();
      else await pollUntil(() => child.stderrReader!.closed, 10_000);
    }
    await loopTurns(5);
    expect(openFds()).toEqual(before);
  });

  it('reports a failed read as a SystemError with its errno and syscall, once, and closes the fd', async () => {
    // A copy of a child's pidfd polls readable once the child has exited, and read(2) on a
    // pidfd fails with EINVAL (pidfs has no read): a read error a test can make for real.
    const child = spawn({ command: 'sleep', args: ['1000'] });
    started.push(child);
    const fd = dupFd(child.pidfd);
    const ino = fs.fstatSync(fd).ino;
    const reader = new PipeReader(fd);
    const got = collect(reader);
    await loopTurns(5);
    expect(got.ends).toEqual([]);
    child.signal('SIGKILL');
    await child.wait();
    await pollUntil(() => got.ends.length > 0, 10_000);
    await loopTurns(5);
    expect(got.chunks).toEqual([]);
    expect(got.ends).toHaveLength(1);
    const error = got.ends[0]!;
    expect(error).toBeInstanceOf(SystemError);
    expect(error).toMatchObject({ code: 'EINVAL', errno: 22, syscall: 'read' });
    expect(reader.closed).toBe(true);
    expect(stillOpen(fd, ino)).toBe(false);
  });

  it('refuses what libuv cannot poll with a typed error and leaves the fd to the caller', () => {
    const file = path.join(root, 'plain');
    fs.writeFileSync(file, 'x');
    const fd = fs.openSync(file, 'r');
    try {
      let caught: unknown = null;
      try {
        new PipeReader(fd);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(SystemError);
      expect(caught).toMatchObject({ code: 'EPERM', syscall: 'uv_poll_init' });
      expect(fs.fstatSync(fd).isFile()).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('closes a reader its worker left open when the worker is torn down: no fd, nothing polled', async () => {
    const worker = new Worker(path.join(fixtures, 'worker-pipe-reader.mjs'));
    const messages: Array<{ pid?: number; fd?: number; ino?: number; data?: string; ended?: boolean }> = [];
    worker.on('message', (message) => messages.push(message));
    const errors: Error[] = [];
    worker.on('error', (error) => errors.push(error));
    await pollUntil(() => messages.length > 0 || errors.length > 0, 10_000);
    expect(errors).toEqual([]);
    const { pid, fd, ino, data } = messages[0]!;
    expect(data).toBe('hello\n');
    const cat = openProcess(pid!, { watch: true });
    try {
      expect(stillOpen(fd!, ino!)).toBe(true);
      expect(epollSetsWatching(fd!)).toBe(1); // the worker's loop
      await worker.terminate();
      // The environment's cleanup hook closed it: out of every epoll set, the fd closed.
      expect(stillOpen(fd!, ino!)).toBe(false);
      expect(messages.filter((message) => message.ended === true)).toEqual([]);
    } finally {
      if (cat.exitStatus === undefined) {
        try {
          cat.signal('SIGKILL');
        } catch {
          // it ended with its stdin
        }
      }
      await cat.wait();
    }
  });

  it('refuses stdin as a reader: the child reads it, the daemon writes', () => {
    expect(() => spawn({ command: 'true', stdio: ['reader' as 'pipe', 'null', 'null'] })).toThrow(/stdio\[0\] must be "inherit", "null", "pipe" or \{ fd \}/);
  });
});
