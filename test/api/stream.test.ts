// The policy of long-lived responses in isolation: what a client may have buffered before
// it is disconnected, and what ends a stream.
import type { FastifyReply } from 'fastify';
import { describe, expect, it } from 'vitest';
import { LiveStreams } from '../../api/server/stream.js';

const fakeReply = () => ({ raw: { writableLength: 0 } }) as unknown as FastifyReply;

describe('live streams', () => {
  it('lets the backlog through at once, then ends a stream whose client falls behind', () => {
    const streams = new LiveStreams(100);
    const live = streams.open(fakeReply());
    let cleaned = 0;
    live.onEnd(() => cleaned++);
    live.writeBacklog('b'.repeat(500)); // nothing reads the body: all of it stays buffered
    live.write('x'.repeat(50)); // 550 buffered, within 100 + the backlog
    expect(live.ended).toBe(false);
    while (live.body.read() !== null); // the client catches up
    live.write('y'.repeat(60)); // 60 buffered: the backlog allowance is spent
    expect(live.ended).toBe(false);
    live.write('z'.repeat(60), 'farewell'); // 120 > 100
    expect(live.ended).toBe(true);
    expect(cleaned).toBe(1);
    expect(streams.size).toBe(0);
    const rest = live.body.read()?.toString() ?? '';
    expect(rest.endsWith('farewell')).toBe(true);
    live.write('more'); // ignored once ended
    expect(cleaned).toBe(1);
  });

  it('ends every stream at close, and runs cleanups when the client goes away', () => {
    const streams = new LiveStreams(1 << 20);
    const [a, b] = [streams.open(fakeReply()), streams.open(fakeReply())];
    let cleaned = 0;
    a!.onEnd(() => cleaned++);
    b!.onEnd(() => cleaned++);
    b!.body.destroy(); // what fastify does when the client disconnects
    return new Promise<void>((resolve) => {
      setImmediate(() => {
        expect(cleaned).toBe(1);
        streams.endAll();
        expect(cleaned).toBe(2);
        expect(streams.size).toBe(0);
        resolve();
      });
    });
  });
});
