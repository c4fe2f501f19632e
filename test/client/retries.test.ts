// Which requests pidvisor/client sends again by itself (client/retry.ts), seen from the server
// side: a raw HTTP server on a unix socket that breaks or refuses requests on purpose, and
// counts what arrives. A launch whose connection broke after it was sent is never sent again
// (the daemon may have acted); a read is; a refusal made before acting (503, 429) is retried
// with the same Idempotency-Key.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectionLostError, PidvisorClient, UnreachableError } from '../../client/index.js';

interface Received {
  method: string;
  url: string;
  headers: Record<string, string>;
}

type Answer = (request: Received, socket: net.Socket) => void;

let dir = '';
let server: net.Server | null = null;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-client-retries-'));
});
afterEach(async () => {
  await new Promise<void>((resolve) => (server === null ? resolve() : server.close(() => resolve())));
  server = null;
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A server that reads each request's head and body, records it, and lets `answer` decide. */
async function rawServer(answer: Answer): Promise<{ socketPath: string; received: Received[] }> {
  const socketPath = path.join(dir, 'api.sock');
  const received: Received[] = [];
  server = net.createServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [line, ...fields] = buffer.subarray(0, end).toString().split('\r\n');
      const headers = Object.fromEntries(fields.map((f) => [f.slice(0, f.indexOf(':')).toLowerCase(), f.slice(f.indexOf(':') + 1).trim()]));
      if (buffer.length < end + 4 + Number(headers['content-length'] ?? 0)) return;
      buffer = Buffer.alloc(0);
      const [method, url] = line!.split(' ');
      const request = { method: method!, url: url!, headers };
      received.push(request);
      answer(request, socket);
    });
  });
  await new Promise<void>((resolve) => server!.listen(socketPath, resolve));
  return { socketPath, received };
}

function respond(socket: net.Socket, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  const type = status >= 400 ? 'application/problem+json' : 'application/json';
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(`HTTP/1.1 ${status} X\r\ncontent-type: ${type}\r\ncontent-length: ${Buffer.byteLength(text)}\r\n${extra}\r\n${text}`);
}

const retry = { attempts: 4, initialDelayMs: 5, maxDelayMs: 20 };

describe('pidvisor/client retries', () => {
  it('never sends a launch again once the connection broke after sending it; the error gives its key', async () => {
    const { socketPath, received } = await rawServer((_request, socket) => socket.destroy());
    const client = new PidvisorClient({ socketPath, retry });
    const error = await client.launch({ command: ['true'] }, { idempotencyKey: 'launch-1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionLostError);
    expect(error).toMatchObject({ sent: true, idempotencyKey: 'launch-1' });
    expect(received.map((r) => r.method)).toEqual(['POST']);
    // The same for a signal, which has no key: it could be delivered twice.
    await expect(client.signal('web', 'HUP')).rejects.toBeInstanceOf(ConnectionLostError);
    expect(received.map((r) => r.method)).toEqual(['POST', 'POST']);
    client.close();
  });

  it('sends a read again when the connection broke, up to its attempts', async () => {
    const { socketPath, received } = await rawServer((_request, socket) => socket.destroy());
    const client = new PidvisorClient({ socketPath, retry });
    await expect(client.list()).rejects.toBeInstanceOf(ConnectionLostError);
    expect(received.map((r) => `${r.method} ${r.url}`)).toEqual(Array(4).fill('GET /v1/processes'));
    client.close();
  });

  it('sends a launch refused before acting (503, 429) again, with the same Idempotency-Key', async () => {
    const refusals = [
      [503, 'PIDVISOR_ERR_TOO_MANY_LAUNCHES'],
      [429, 'PIDVISOR_ERR_RATE_LIMITED'],
    ] as const;
    const { socketPath, received } = await rawServer((request, socket) => {
      const refusal = refusals[received.length - 1];
      if (refusal !== undefined) respond(socket, refusal[0], { code: refusal[1], status: refusal[0], title: 't', type: 't', detail: 'later' }, { 'retry-after': '0' });
      else respond(socket, 201, { id: 'abc', name: null, url: request.url });
    });
    const client = new PidvisorClient({ socketPath, retry });
    expect(await client.launch({ command: ['true'] })).toMatchObject({ id: 'abc' });
    expect(received).toHaveLength(3);
    const keys = new Set(received.map((r) => r.headers['idempotency-key']));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(/^[0-9a-f-]{36}$/);
    client.close();
  });

  it('does not retry a refusal that another try cannot change; says when the daemon is unreachable', async () => {
    const { socketPath, received } = await rawServer((_request, socket) => respond(socket, 409, { code: 'PIDVISOR_ERR_NAME_TAKEN', status: 409, title: 't', type: 't', detail: 'taken' }));
    const client = new PidvisorClient({ socketPath, retry });
    await expect(client.launch({ name: 'web', command: ['true'] })).rejects.toMatchObject({ code: 'PIDVISOR_ERR_NAME_TAKEN', status: 409 });
    expect(received).toHaveLength(1);
    client.close();
    const nowhere = new PidvisorClient({ socketPath: path.join(dir, 'missing.sock'), retry });
    await expect(nowhere.system()).rejects.toMatchObject({ name: 'UnreachableError', code: 'ENOENT', sent: false });
    await expect(nowhere.system()).rejects.toBeInstanceOf(UnreachableError);
  });
});
