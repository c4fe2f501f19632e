// A ProcessRef is the native handle itself (it extends the addon's class): one object per
// process, whose raw members stay off its public, string-keyed surface.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  capabilities,
  openProcess,
  OrphanReaper,
  peerCredentials,
  pidfdUnsupportedReason,
  ProcessRef,
  spawn,
} from '../../native/index.js';
import { openFds, procStat, zombieChildren } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();

describe.skipIf(unsupported !== null)(`ProcessRef${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('is one object: pid and pidfd come from the native handle, raw members are symbol-keyed', async () => {
    const child = spawn({ command: 'true' });
    expect(Object.keys(child)).toEqual([]);
    expect(child.pid).toBeGreaterThan(0);
    expect(child.pidfd).toBeGreaterThanOrEqual(0);
    for (const raw of ['sendSignal', 'watch', 'killAndReap', 'fd', 'inode', 'handle']) expect(raw in child).toBe(false);
    expect(child.instance).toMatch(new RegExp(`^${child.pid}\\.`));
    expect((await child.wait()).code).toBe(0);
    expect(child.pidfd).toBe(-1);
  });

  it('is made only by the layer: any other construction throws and holds nothing', () => {
    const before = openFds();
    const Raw = ProcessRef as unknown as new (...args: unknown[]) => ProcessRef;
    expect(() => new Raw()).toThrow(TypeError);
    expect(() => new Raw(0)).toThrow(TypeError); // a spawn without a request
    expect(() => new Raw(1, 'x')).toThrow(TypeError);
    expect(() => new Raw(9, process.pid)).toThrow(TypeError);
    expect(() => new Raw(1, 0x7ffffff0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect(openFds()).toEqual(before);
  });

  it('holds hundreds of children by pid (the handle table grows), and the orphan reaper leaves them be', async () => {
    const children = Array.from({ length: 300 }, () => spawn({ command: 'sleep', args: ['1000'] }));
    const again = openProcess(children[0]!.pid); // a second handle on one pid: the same bucket
    for (const child of children) child.signal('SIGKILL');
    const deadline = Date.now() + 10_000;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (!children.every((child) => procStat(child.pid)[0] === 'Z')) {
      if (Date.now() > deadline) throw new Error('children not all zombies after 10 s');
      Atomics.wait(pause, 0, 0, 1);
    }
    // Every zombie is ours and not yet reaped (the event loop has not run): none may be taken.
    expect(new OrphanReaper().sweep()).toBe(0);
    again.close();
    const exits = await Promise.all(children.map((child) => child.wait()));
    expect(exits.every((exit) => exit.signal === 'SIGKILL')).toBe(true);
    expect(zombieChildren()).toEqual([]);
  });

  it('opens a process by pid without watching it', async () => {
    const child = spawn({ command: 'sleep', args: ['1000'] });
    const opened = openProcess(child.pid);
    expect(opened.instance).toBe(child.instance);
    await expect(opened.wait()).rejects.toThrow(/not watched/);
    opened.close();
    child.signal('SIGKILL');
    expect((await child.wait()).signal).toBe('SIGKILL');
  });

  it.skipIf(!capabilities().features.soPeerPidfd.ok)('names a unix socket peer by pidfd (SO_PEERPIDFD)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-peer-'));
    const socketPath = path.join(dir, 's');
    const server = net.createServer();
    try {
      const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
      await new Promise<void>((resolve) => server.listen(socketPath, resolve));
      const client = net.connect(socketPath);
      const socket = await accepted;
      const peer = peerCredentials(socket);
      expect(peer.pid).toBe(process.pid); // we are our own peer here
      expect(peer.uid).toBe(process.getuid?.());
      expect(peer.process).toBeInstanceOf(ProcessRef);
      expect(peer.process!.pid).toBe(process.pid);
      peer.process!.signal(0); // reaches this very process through the pidfd
      peer.process!.close();
      expect(peer.process!.pidfd).toBe(-1);
      client.destroy();
      socket.destroy();
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
