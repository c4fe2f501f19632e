// The policy of long-lived responses in isolation: what a client may have buffered before
// it is dropped, what it is told then, and what ends a stream.
import { EventEmitter } from 'node:events';
import type { FastifyReply } from 'fastify';
import { describe, expect, it } from 'vitest';
import { LiveStreams, type StreamLimits } from '../../api/server/stream.js';

/** A reply whose socket takes nothing: every byte written stays in the body. */
function fakeReply(): FastifyReply & { destroyed: boolean } {
  const raw = Object.assign(new EventEmitter(), { writableLength: 0, destroyed: false, destroy: () => (raw.destroyed = true) });
  return { raw, get destroyed() { return raw.destroyed; } } as unknown as FastifyReply & { destroyed: boolean };
}

const limits = (over: Partial<StreamLimits> = {}): StreamLimits => ({ maxBufferedBytes: 100, writeTimeoutMs: 1000, maxStreams: 10, maxStreamsPerCaller: 5, ...over });
const readAll = (body: NodeJS.ReadableStream & { read(): Buffer | null }): string => {
  let text = '';
  for (let chunk = body.read(); chunk !== null; chunk = body.read()) text += chunk.toString();
  return text;
};

describe('live streams', () => {
  it('makes the backlog only as the client takes it, then drops a client that falls behind, telling it where to resume', () => {
    const streams = new LiveStreams(limits());
    const live = streams.open(fakeReply(), 'a');
    let made = 0;
    live.setFarewell((reason, lastSeq) => `dropped ${reason} after ${lastSeq}`);
    for (let seq = 1; seq <= 10; seq++) live.writeBacklog(() => (made++, 'b'.repeat(40)), seq);
    expect(made).toBe(3); // 120 bytes buffered: the rest waits, unmade
    expect(readAll(live.body)).toBe('b'.repeat(120));
    live.write('x'.repeat(60), 11); // queued behind the backlog...
    expect(live.ended).toBe(false);
    live.write('y'.repeat(60), 12); // ...120 new bytes waiting: too many
    expect(live.ended).toBe(true);
    expect(streams.dropped).toEqual({ behind: 1, 'write-timeout': 0 });
    const rest = readAll(live.body);
    expect(rest.endsWith('dropped behind after 6')).toBe(true); // 3 more backlog pieces went out while we read
    live.write('more'); // ignored once ended
  });

  it('drops a client that takes nothing for the write timeout, and cuts it if it does not take the farewell either', async () => {
    const streams = new LiveStreams(limits({ writeTimeoutMs: 100 }));
    const reply = fakeReply();
    const live = streams.open(reply, 'a');
    live.setFarewell((reason) => `bye ${reason}`);
    live.write('z'.repeat(50));
    const started = Date.now();
    while (!reply.destroyed && Date.now() - started < 10_000) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(streams.dropped['write-timeout']).toBe(1);
    expect(reply.destroyed).toBe(true);
    reply.raw.emit('close');
    expect(streams.size).toBe(0);
  });

  it('cuts a text stream that falls behind (no farewell): the client sees no clean end', () => {
    const streams = new LiveStreams(limits());
    const reply = fakeReply();
    const live = streams.open(reply, 'a');
    for (let i = 0; i < 4; i++) live.write('w'.repeat(60)); // two sent, two waiting: 120 > 100
    expect(reply.destroyed).toBe(true);
  });

  it('limits streams per caller and in all (429 TOO_MANY_STREAMS), and counts one open until its connection closes', () => {
    const streams = new LiveStreams(limits({ maxStreams: 3, maxStreamsPerCaller: 2 }));
    const replies = [fakeReply(), fakeReply(), fakeReply()];
    streams.open(replies[0]!, 'a');
    const second = streams.open(replies[1]!, 'a');
    expect(() => streams.open(fakeReply(), 'a')).toThrow(expect.objectContaining({ code: 'PIDVISOR_ERR_TOO_MANY_STREAMS', status: 429 }));
    streams.open(replies[2]!, 'b');
    expect(() => streams.open(fakeReply(), 'c')).toThrow(/3 are open \(at most 3\)/);
    second.end();
    expect(streams.size).toBe(3); // ended, but its connection is still open
    replies[1]!.raw.emit('close');
    expect(streams.size).toBe(2);
    streams.open(fakeReply(), 'a');
  });

  it('ends every stream at close, and runs cleanups when the client goes away', () => {
    const streams = new LiveStreams(limits({ maxBufferedBytes: 1 << 20 }));
    const [a, b] = [streams.open(fakeReply(), 'a'), streams.open(fakeReply(), 'a')];
    let cleaned = 0;
    a!.onEnd(() => cleaned++);
    b!.onEnd(() => cleaned++);
    b!.body.destroy(); // what fastify does when the client disconnects
    return new Promise<void>((resolve) => {
      setImmediate(() => {
        expect(cleaned).toBe(1);
        streams.endAll();
        expect(cleaned).toBe(2);
        resolve();
      });
    });
  });
});
