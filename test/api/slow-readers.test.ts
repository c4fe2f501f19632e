// Followers that stop reading must not pin the daemon's memory: on a real unix socket, with
// a process writing fast, clients that never read are dropped once they fall behind, then
// disconnected when they do not take even the last line; the bytes held for them stay
// within the bound all along, and their connections close.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { buildApp, listen, type ListenHandle, type PidvisorApp } from '../../api/server/index.js';
import { pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
const FOLLOWERS = 20;
const MAX_BUFFERED = 256 << 10;

let t: TestSupervisor;
let dir: string;
let app: PidvisorApp;
let handle: ListenHandle;

beforeEach(() => {
  t = createTestSupervisor();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-slow-'));
});
afterEach(async () => {
  await handle?.close();
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Opens a follow request and never reads a byte of the answer. */
function idleFollower(socketPath: string, query: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath, () => {
      socket.write(`GET /v1/processes/writer/logs?${query} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      resolve(socket);
    });
    socket.on('error', reject);
  });
}


describe.skipIf(unsupported !== null)('followers that stop reading', () => {
  it('are dropped and disconnected, with the bytes held for them bounded all along', async () => {
    app = buildApp(t.supervisor, { maxStreamBufferBytes: MAX_BUFFERED, streamWriteTimeoutMs: 500, rateLimit: false });
    handle = await listen(app, { socketPath: path.join(dir, 'api.sock') });
    let openConnections = 0;
    app.server.on('connection', (socket: net.Socket) => {
      openConnections++;
      socket.once('close', () => openConnections--);
    });
    // 40 MB of output in 64 KiB lines, then quiet: far more than a follower may have waiting.
    await t.supervisor.launch({
      name: 'writer',
      command: ['sh', '-c', 'head -c 41943040 /dev/zero | tr "\\0" x | fold -w 65535; exec sleep 1000'],
      startGraceMs: 0,
    });
    const followers = await Promise.all(
      Array.from({ length: FOLLOWERS }, (_, i) => idleFollower(handle.socketPath, i % 2 === 0 ? 'follow=true&after=0' : 'follow=true&format=text')),
    );
    let peak = 0;
    // Every follower is dropped (it fell behind, or took nothing in time) and its connection closed.
    await pollUntil(() => {
      peak = Math.max(peak, app.pidvisor.streams.bufferedBytes);
      const { behind, 'write-timeout': timedOut } = app.pidvisor.streams.dropped;
      return behind + timedOut === FOLLOWERS && app.pidvisor.streams.size === 0;
    }, 60_000);
    await pollUntil(() => openConnections === 0, 10_000);
    // A piece can be one record over the bound (64 KiB as base64 in JSON).
    expect(peak).toBeLessThanOrEqual(FOLLOWERS * (MAX_BUFFERED + (128 << 10)));
    expect(app.pidvisor.streams.bufferedBytes).toBe(0);
    const metrics = (await app.inject('/metrics')).body;
    expect(metrics).toMatch(/^pidvisor_api_streams 0$/m);
    expect(metrics).toMatch(/^pidvisor_api_stream_buffered_bytes 0$/m);
    for (const socket of followers) socket.destroy();
  }, 120_000);
});
