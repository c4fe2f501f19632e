// State changes as server-sent events. Each event's `id:` is its sequence number in the
// daemon's event log, so a client that reconnects with `Last-Event-ID` (what EventSource
// sends by itself) or `?after=` gets exactly the events after it: none missed, none twice.
//
// Without either, the stream starts with the next event. Besides the events themselves:
// - `event: gap` when events after the requested id have already left the bounded log;
// - `event: reset` when the requested id is beyond the newest event: the daemon restarted
//   and numbers again from 1, so the stream replays what this daemon has kept;
// - `event: dropped` as the last event when the client fell behind (stream.ts), with the
//   code PIDVISOR_ERR_STREAM_BEHIND and the last id sent: reconnect with Last-Event-ID;
// - a comment line every heartbeatMs, so idle connections are seen to be alive;
// - first, an `id:` alone (no data): the point the stream starts from, to resume from.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SupervisorEvent } from '../../../daemon/events.js';
import { peerOf, rateKeyOf } from '../auth.js';
import type { AppContext } from '../context.js';
import { EventsHeaders, EventsQuery } from '../schemas.generated.js';

const RETRY_MS = 1000;

export const eventRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get(
    '/v1/events',
    {
      schema: { querystring: EventsQuery, headers: EventsHeaders },
      config: {
        openapi: {
          operationId: 'streamEvents',
          summary: 'Server-sent events of state changes, resumable with Last-Event-ID',
          description:
            '`id:` is the event sequence number, `event:` its type (created, state, ready, health, status, exit, spawn-failed, log-write-failed, reloaded, removed), `data:` the event as JSON. Also `event: gap` (events lost from the bounded log), `event: reset` (the daemon restarted; numbering starts again) and `:` heartbeat comments. Last-Event-ID wins over `after`. A client that falls behind (1 MiB waiting for it, or nothing taken for 30 s) gets a last `event: dropped` with `data: {"code":"PIDVISOR_ERR_STREAM_BEHIND","reason":"behind"|"write-timeout","lastEventId":N}` and is disconnected; it resumes with Last-Event-ID. Each caller may hold a limited number of streams (429 TOO_MANY_STREAMS beyond).',
          tags: ['events'],
          errors: ['PIDVISOR_ERR_TOO_MANY_STREAMS'],
          content: { 200: { description: 'An endless text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } } },
        },
      },
    },
    async (request, reply) => {
      const events = ctx.supervisor.events;
      const requested = request.headers['last-event-id'] ?? request.query.after;
      let after = requested === undefined ? events.lastSeq : Number(requested);
      const live = ctx.streams.open(reply, rateKeyOf(peerOf(request)));
      live.setFarewell((reason, lastSeq) => {
        const data = { code: 'PIDVISOR_ERR_STREAM_BEHIND', reason, lastEventId: lastSeq ?? after, detail: 'the client read too slowly; reconnect with Last-Event-ID' };
        return `event: dropped\ndata: ${JSON.stringify(data)}\n\n`;
      });
      live.writeBacklog(`retry: ${RETRY_MS}\n\n`);
      if (after > events.lastSeq) {
        live.writeBacklog(`event: reset\ndata: ${JSON.stringify({ after, lastSeq: events.lastSeq })}\n\n`);
        after = 0;
      }
      // An `id:` before any event: a client cut off before the first event resumes from where it
      // started, not from "now" again (EventSource keeps an id sent without data; so does pidvisor/client).
      live.writeBacklog(`id: ${after}\n\n`);
      const subscription = events.subscribe(after, (event) => live.write(format(event), event.seq));
      if (subscription.gap) {
        live.writeBacklog(`event: gap\ndata: ${JSON.stringify({ after, oldest: subscription.backlog[0]?.seq ?? events.lastSeq + 1 })}\n\n`);
      }
      for (const event of subscription.backlog) live.writeBacklog(() => format(event), event.seq);
      const heartbeat = setInterval(() => live.write(`: heartbeat ${new Date().toISOString()}\n\n`), ctx.heartbeatMs);
      live.onEnd(() => {
        clearInterval(heartbeat);
        subscription.unsubscribe();
      });
      return reply
        .type('text/event-stream; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('x-accel-buffering', 'no')
        .send(live.body);
    },
  );
};

function format(event: SupervisorEvent): string {
  // JSON.stringify escapes newlines, so the data is a single line.
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}
