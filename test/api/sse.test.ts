// The event stream over a real socket: a client that drops mid-stream and resumes with
// Last-Event-ID sees every event exactly once; gaps and daemon restarts are announced;
// heartbeats flow; closing the app ends streams cleanly instead of hanging.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { buildApp, listen, type AppOptions, type ListenHandle } from '../../api/server/index.js';
import { EventLog } from '../../daemon/events.js';
import type { SupervisorOptions } from '../../daemon/supervisor.js';
import { pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();

interface SseMessage {
  id: number | null;
  event: string | null;
  data: any;
  comment: string | null;
}

interface SseClient {
  messages: SseMessage[];
  status: Promise<number>;
  /** Resolves when the server ends the stream ('end'), or rejects if it is cut. */
  ended: Promise<void>;
  close(): void;
}

function connect(socketPath: string, query = '', headers: Record<string, string> = {}): SseClient {
  const messages: SseMessage[] = [];
  let req!: http.ClientRequest;
  let buffer = '';
  let resolveStatus!: (status: number) => void;
  const status = new Promise<number>((resolve) => (resolveStatus = resolve));
  const ended = new Promise<void>((resolve, reject) => {
    req = http.get({ socketPath, path: `/v1/events${query}`, headers, agent: false }, (res) => {
      resolveStatus(res.statusCode ?? 0);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          messages.push(parse(buffer.slice(0, end)));
          buffer = buffer.slice(end + 2);
        }
      });
      res.on('end', () => resolve());
      res.on('aborted', () => reject(new Error('stream cut')));
    });
    req.on('error', reject);
  });
  ended.catch(() => undefined);
  return { messages, status, ended, close: () => req.destroy() };
}

function parse(block: string): SseMessage {
  const message: SseMessage = { id: null, event: null, data: null, comment: null };
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) message.comment = line.slice(1).trim();
    else if (line.startsWith('id: ')) message.id = Number(line.slice(4));
    else if (line.startsWith('event: ')) message.event = line.slice(7);
    else if (line.startsWith('data: ')) message.data = JSON.parse(line.slice(6));
  }
  return message;
}

/** The events, without the `id:`-only message that marks where the stream starts. */
const eventsOf = (client: SseClient) => client.messages.filter((m) => m.id !== null && m.event !== null);

let t: TestSupervisor;
let dir: string;
let handle: ListenHandle;

async function serve(appOptions: AppOptions = {}, supervisorOptions: Partial<SupervisorOptions> = {}): Promise<string> {
  t = createTestSupervisor(supervisorOptions);
  const app = buildApp(t.supervisor, { rateLimit: false, ...appOptions });
  handle = await listen(app, { socketPath: path.join(dir, 'api.sock') });
  return handle.socketPath;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-sse-'));
});
afterEach(async () => {
  await handle?.close();
  await t?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Short-lived services, one after another: each gives created, state and exit events. */
async function churn(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await t.supervisor.launch({ name: `churn-${i}`, command: ['true'], startGraceMs: 0, restart: { policy: 'no' } });
    await t.supervisor.wait(`churn-${i}`);
    await t.supervisor.remove(`churn-${i}`);
  }
}

describe.skipIf(unsupported !== null)('GET /v1/events (server-sent events)', () => {
  it('a client that disconnects mid-stream and resumes with Last-Event-ID misses nothing and sees nothing twice', async () => {
    const socketPath = await serve({ heartbeatMs: 30 });
    const first = connect(socketPath, '?after=0');
    expect(await first.status).toBe(200);
    const producing = churn(40);
    await pollUntil(() => eventsOf(first).length >= 25, 10_000);
    first.close(); // mid-stream: more events are on their way
    const seen = eventsOf(first);
    const lastId = seen.at(-1)!.id!;
    await pollUntil(() => t.supervisor.events.lastSeq > lastId + 3); // events happen while nobody listens

    const second = connect(socketPath, '', { 'last-event-id': String(lastId) });
    await producing;
    const finalSeq = t.supervisor.events.lastSeq;
    await pollUntil(() => eventsOf(second).at(-1)?.id === finalSeq, 10_000);
    second.close();

    const ids = [...seen, ...eventsOf(second)].map((m) => m.id);
    expect(ids).toEqual(Array.from({ length: finalSeq }, (_, i) => i + 1));
    for (const message of [...seen, ...eventsOf(second)]) {
      expect(message.data.seq).toBe(message.id);
      expect(message.event).toBe(message.data.type);
    }
    expect(eventsOf(second).length).toBeGreaterThan(0);
    expect(first.messages[0]).toMatchObject({ id: null, comment: null }); // the retry: line
    expect([...first.messages, ...second.messages].some((m) => m.comment?.startsWith('heartbeat'))).toBe(true);
  });

  it('starts after the newest event by default; ?after= works; Last-Event-ID wins over it', async () => {
    const socketPath = await serve();
    await churn(2);
    const last = t.supervisor.events.lastSeq;
    const fresh = connect(socketPath);
    const fromQuery = connect(socketPath, '?after=3');
    const both = connect(socketPath, '?after=1', { 'last-event-id': String(last - 1) });
    await Promise.all([fresh.status, fromQuery.status, both.status]);
    await pollUntil(() => eventsOf(fromQuery).length === last - 3 && eventsOf(both).length === 1);
    expect(eventsOf(fromQuery)[0]!.id).toBe(4);
    expect(eventsOf(both)[0]!.id).toBe(last);
    await churn(1);
    await pollUntil(() => eventsOf(fresh).length > 0);
    expect(eventsOf(fresh)[0]!.id).toBe(last + 1);
    for (const client of [fresh, fromQuery, both]) client.close();
  });

  it('announces a gap when the events asked for have left the log, and a reset after a daemon restart', async () => {
    const socketPath = await serve({}, { events: new EventLog(5) });
    await churn(3);
    const last = t.supervisor.events.lastSeq;
    const old = connect(socketPath, '?after=1');
    await pollUntil(() => eventsOf(old).length === 5);
    const gap = old.messages.find((m) => m.event === 'gap')!;
    expect(gap.data).toEqual({ after: 1, oldest: last - 4 });
    expect(eventsOf(old).map((m) => m.id)).toEqual([last - 4, last - 3, last - 2, last - 1, last]);

    const future = connect(socketPath, '', { 'last-event-id': String(last + 1000) });
    await pollUntil(() => eventsOf(future).length === 5);
    expect(future.messages.find((m) => m.event === 'reset')!.data).toEqual({ after: last + 1000, lastSeq: last });
    old.close();
    future.close();
  });

  it('rejects a malformed Last-Event-ID or after', async () => {
    const socketPath = await serve();
    for (const [query, headers] of [['', { 'last-event-id': 'abc' }], ['?after=-1', {}], ['?after=1&after=2', {}]] as const) {
      const client = connect(socketPath, query, headers);
      expect(await client.status).toBe(400);
      await client.ended;
    }
  });

  it('disconnects a client that falls behind; resuming with Last-Event-ID still loses nothing', async () => {
    const socketPath = await serve({ maxStreamBufferBytes: 64 << 10 });
    const burst = (n: number): void => {
      for (let i = 0; i < n; i++) t.supervisor.events.append({ type: 'state', service: { id: 'synthetic', name: null }, reason: 'x'.repeat(1000) });
    };
    const first = connect(socketPath, '?after=0');
    await first.status;
    burst(2000); // ~2 MB at once: far more than the client can take in
    await first.ended;
    const seen = eventsOf(first);
    expect(seen.length).toBeLessThan(2000);
    // The last event says so, with a stable code and the id to resume from.
    expect(first.messages.at(-1)).toMatchObject({ event: 'dropped', data: { code: 'PIDVISOR_ERR_STREAM_BEHIND', reason: 'behind', lastEventId: seen.at(-1)!.id } });

    const second = connect(socketPath, '', { 'last-event-id': String(seen.at(-1)!.id) });
    await pollUntil(() => eventsOf(second).at(-1)?.id === t.supervisor.events.lastSeq, 10_000);
    second.close();
    const ids = [...seen, ...eventsOf(second)].map((m) => m.id);
    expect(ids).toEqual(Array.from({ length: t.supervisor.events.lastSeq }, (_, i) => i + 1));
  });

  it('streams followed logs over the socket: headers at once, records as they come, the end on removal', async () => {
    const socketPath = await serve();
    await t.supervisor.launch({ name: 'talker', command: ['sh', '-c', 'read line; echo "got $line"; exec sleep 1000'], stdin: 'null' });
    await t.supervisor.launch({ name: 'slow', command: ['sh', '-c', 'sleep 0.3; echo late; exec sleep 1000'] });
    const lines: string[] = [];
    let status = 0;
    const ended = new Promise<void>((resolve, reject) => {
      http
        .get({ socketPath, path: '/v1/processes/slow/logs?follow=true', agent: false }, (res) => {
          status = res.statusCode ?? 0;
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)));
          res.on('end', () => resolve());
        })
        .on('error', reject);
    });
    await pollUntil(() => status === 200); // before any output: the headers were flushed
    expect(lines).toEqual([]);
    await pollUntil(() => lines.length === 1, 5000);
    const record = JSON.parse(lines[0]!);
    expect(record).toMatchObject({ seq: 1, stream: 'stdout', partial: false });
    expect(Buffer.from(record.data, 'base64').toString()).toBe('late');
    await t.supervisor.remove('slow');
    await ended;
  });

  it('ends open streams cleanly when the app closes', async () => {
    const socketPath = await serve();
    const clients = [connect(socketPath), connect(socketPath, '?after=0')];
    await Promise.all(clients.map((c) => c.status));
    await pollUntil(() => handle.tcp === null && clients.every((c) => c.messages.length > 0));
    const started = Date.now();
    await handle.close();
    await Promise.all(clients.map((c) => c.ended)); // 'end', not cut
    expect(Date.now() - started).toBeLessThan(1500);
  });
});
