// Over TCP every local client comes from 127.0.0.1: limits keyed by that address alone let a
// caller without the token spend the budget of the caller with it. Here, on real listeners:
// clients with a bad token do not push the token holder into 429; connections that never
// finish their headers, held by another uid, do not lock it out; and 300 open event streams
// leave room for short requests.
import { spawn as spawnChild } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { isRoot, pollUntil } from '../helpers/proc.js';
import { buildApp, listen, type AppOptions, type ListenHandle, type ListenOptions, type PidvisorApp } from '../../api/server/index.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
const TOKEN = 'a-test-token-0123456789abcdef';

let t: TestSupervisor;
let dir: string;
let app: PidvisorApp;
let handle: ListenHandle | null;

beforeEach(() => {
  t = createTestSupervisor();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-tcp-'));
  handle = null;
});
afterEach(async () => {
  await handle?.close();
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function serve(listenOptions: Partial<ListenOptions> = {}, appOptions: AppOptions = {}): Promise<number> {
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
  app = buildApp(t.supervisor, appOptions);
  handle = await listen(app, { socketPath: path.join(dir, 'run', 'api.sock'), tcp: { port: 0, tokenFile }, ...listenOptions });
  return handle.tcp!.port;
}

/** GET `path` on a keep-alive agent; resolves with the status (0 when the connection failed). */
function get(port: number, agent: http.Agent, token: string | null, urlPath = '/v1/processes'): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: urlPath, agent, headers: token === null ? {} : { authorization: `Bearer ${token}` } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', () => resolve(0));
  });
}

function tally(statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

describe.skipIf(unsupported !== null)('TCP limits per caller', () => {
  it('clients with a bad token do not push the token holder into 429; their failures are limited apart', async () => {
    // A small budget, so that the bad clients alone could spend it many times over.
    const port = await serve({}, { rateLimit: { burst: 40, perSecond: 1 }, authFailureLimit: { burst: 10, perSecond: 1 } });
    const attackers = Array.from({ length: 4 }, async (_, n) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const statuses: number[] = [];
      for (let i = 0; i < 100; i++) statuses.push(await get(port, agent, n % 2 === 0 ? null : `${TOKEN}-wrong`));
      agent.destroy();
      return statuses;
    });
    // The holder starts once the attackers have had the time to spend any shared budget.
    const attackerStatuses = (await Promise.all(attackers)).flat();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const holder: number[] = [];
    const concurrent = Array.from({ length: 2 }, async () => {
      const other = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < 50; i++) await get(port, other, null);
      other.destroy();
    });
    for (let i = 0; i < 30; i++) holder.push(await get(port, agent, TOKEN));
    await Promise.all(concurrent);
    agent.destroy();
    const attackerTally = tally(attackerStatuses);
    expect(tally(holder)).toEqual({ 200: 30 });
    expect(attackerTally[401]).toBeGreaterThanOrEqual(10);
    expect(attackerTally[429]).toBeGreaterThan(300); // the failures' own budget ran out
  });
});

/**
 * A node process of uid 65534 holding `count` TCP connections that never finish their headers,
 * opening a new one (after a pause) whenever one is closed. Killed by the test.
 */
function slowHeaderPeer(port: number, count: number) {
  const script = `
    const net = require('node:net');
    let accepted = 0;
    function open() {
      const socket = net.connect(${port}, '127.0.0.1', () => socket.write('GET /v1/processes HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n'));
      socket.on('data', () => {});
      socket.on('error', () => {});
      socket.on('close', () => setTimeout(open, 20));
    }
    for (let i = 0; i < ${count}; i++) open();
    console.log('ready');`;
  const child = spawnChild(process.execPath, ['-e', script], { uid: 65534, gid: 65534, cwd: '/', stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { ready, stop: () => (child.kill('SIGKILL'), exited) };
}

describe.skipIf(unsupported !== null || !isRoot())('connections without the token, per peer', () => {
  it('another uid holding 300 slow-header connections does not lock out the token holder', async () => {
    // The listener's old default: 300 connections that never finish would hold all of them.
    const port = await serve({ maxConnections: 256 }, { rateLimit: false });
    const peer = slowHeaderPeer(port, 300);
    try {
      await peer.ready;
      // The peer has taken its share, and its newer connections are closing its older ones.
      const refused = async (): Promise<number> => {
        const text = (await app.inject('/metrics')).body;
        return Number(/pidvisor_api_connections_rejected_total\{reason="unauthenticated-per-peer"\} (\d+)/.exec(text)?.[1] ?? 0);
      };
      // (Without the per-peer bound this never comes: the listener fills up instead, and the wait runs out.)
      for (let i = 0; i < 200 && (await refused()) < 50; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        const agent = new http.Agent({ keepAlive: false });
        statuses.push(await get(port, agent, TOKEN));
        agent.destroy();
      }
      expect(tally(statuses)).toEqual({ 200: 40 });
    } finally {
      await peer.stop();
    }
  }, 60_000);
});

describe.skipIf(unsupported !== null)('event streams and short requests', () => {
  it('300 open event streams leave room for short requests: past the per-caller share, 429 TOO_MANY_STREAMS', async () => {
    await serve();
    const socketPath = handle!.socketPath;
    const statusLines: string[] = [];
    const streams = Array.from({ length: 300 }, () => {
      const socket = net.connect(socketPath, () => socket.write('GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n'));
      let first = true;
      socket.on('data', (chunk: Buffer) => {
        if (first) statusLines.push(chunk.toString('latin1'));
        first = false;
      });
      socket.on('error', () => statusLines.push('error'));
      return socket;
    });
    try {
      await pollUntil(() => statusLines.length === 300, 30_000);
      const ok = statusLines.filter((line) => line.startsWith('HTTP/1.1 200')).length;
      const refused = statusLines.filter((line) => line.startsWith('HTTP/1.1 429') && line.includes('PIDVISOR_ERR_TOO_MANY_STREAMS'));
      expect({ ok, refused: refused.length }).toEqual({ ok: 32, refused: 268 });
      // `pidvisor ps` and `stop` still get through.
      const short = (method: string, urlPath: string): Promise<number> =>
        new Promise((resolve, reject) => {
          const request = http.request({ socketPath, method, path: urlPath, agent: false }, (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode ?? 0));
          });
          request.on('error', reject);
          request.end();
        });
      for (let i = 0; i < 10; i++) expect(await short('GET', '/v1/processes')).toBe(200);
      expect(await short('POST', '/v1/processes/nobody/stop')).toBe(404);
    } finally {
      for (const socket of streams) socket.destroy();
    }
    await pollUntil(() => app.pidvisor.streams.size === 0, 10_000);
  }, 60_000);
});
