// Captured output of a process: the records in memory, then, when following, each new one
// as it is captured, until the process is removed, the client leaves or the app closes.
//
// Two formats, both binary-safe:
// - ndjson (default, application/x-ndjson): one JSON object per record, the bytes base64 in
//   `data`, with `seq` so a client that reconnects resumes with `after=<last seq>`;
// - text (application/octet-stream): the bytes as captured, a newline after each complete
//   line and none after a partial piece, so the output reads as the process wrote it.
//
// A follower that falls behind (stream.ts) gets, in ndjson, a last line
// `{"code":"PIDVISOR_ERR_STREAM_BEHIND","reason":...,"after":<last seq sent>}` and resumes
// with `after`; in text, which has no room for it, its response is cut (never a clean end).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { LogRecord } from '../../../daemon/logs/index.js';
import { peerOf, rateKeyOf } from '../auth.js';
import type { AppContext } from '../context.js';
import { ApiError } from '../errors.js';
import { LogsQuery, ProcessParams } from '../schemas.generated.js';

const NDJSON = 'application/x-ndjson; charset=utf-8';
const TEXT = 'application/octet-stream';
const NEWLINE = Buffer.from('\n');

export const logRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get(
    '/v1/processes/:id/logs',
    {
      schema: { params: ProcessParams, querystring: LogsQuery },
      config: {
        openapi: {
          operationId: 'getProcessLogs',
          summary: 'Captured output; streamed when follow=true',
          description:
            'format=ndjson (default): one JSON object per record `{seq, time, stream, partial, data}` with the bytes base64 in `data`. format=text: the raw bytes, a newline after each complete line. `tail` limits to the last N records kept in memory, `after` to records with a greater seq. With follow=true the response stays open and each new record is sent as it is captured; it ends when the process is removed. A follower that falls behind (1 MiB waiting for it, or nothing taken for 30 s) is disconnected: in ndjson after a last line `{"code":"PIDVISOR_ERR_STREAM_BEHIND","reason":"behind"|"write-timeout","after":N}` (resume with `after=N`), in text by cutting the response. Each caller may hold a limited number of streams (429 TOO_MANY_STREAMS beyond).',
          tags: ['processes'],
          errors: ['PIDVISOR_ERR_NOT_FOUND', 'PIDVISOR_ERR_LOGS_NOT_CAPTURED', 'PIDVISOR_ERR_TOO_MANY_STREAMS'],
          content: {
            200: {
              description: 'Records, oldest first',
              content: {
                'application/x-ndjson': { schema: { $ref: '#/components/schemas/LogLine' } },
                'application/octet-stream': { schema: { contentMediaType: 'application/octet-stream', type: 'string' } },
              },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const { stream, tail, after, follow, format } = request.query;
      const service = ctx.supervisor.service(id);
      const info = ctx.supervisor.get(id);
      const logs = service.logs;
      if (logs === null) {
        throw new ApiError('PIDVISOR_ERR_LOGS_NOT_CAPTURED', `neither stdout nor stderr of ${id} is captured`);
      }
      const afterSeq = after === undefined ? 0 : Number(after);
      const wanted = (record: LogRecord): boolean => record.seq > afterSeq && (stream === undefined || record.stream === stream);
      const encode = format === 'text' ? encodeText : encodeNdjson;
      const backlog = logs.tail({ ...(stream === undefined ? {} : { stream }), ...(tail === undefined ? {} : { limit: Number(tail) }) }).filter(wanted);
      reply.type(format === 'text' ? TEXT : NDJSON).header('cache-control', 'no-store');
      if (follow !== 'true') return reply.send(Buffer.concat(backlog.map(encode)));

      const live = ctx.streams.open(reply, rateKeyOf(peerOf(request)));
      if (format !== 'text') {
        live.setFarewell((reason, sent) => {
          const line = { code: 'PIDVISOR_ERR_STREAM_BEHIND', reason, after: sent ?? afterSeq, detail: 'the client read too slowly; resume with after' };
          return `${JSON.stringify(line)}\n`;
        });
      }
      let lastSeq = afterSeq;
      for (const record of backlog) {
        lastSeq = record.seq;
        live.writeBacklog(() => encode(record), record.seq);
      }
      const send = (record: LogRecord): void => {
        if (!wanted(record) || record.seq <= lastSeq) return;
        lastSeq = record.seq;
        live.write(encode(record), record.seq);
      };
      // tail() and follow() run in the same tick: no record can fall between them.
      const unfollow = logs.follow(send);
      const events = ctx.supervisor.events.subscribe(ctx.supervisor.events.lastSeq, (event) => {
        if (event.type === 'removed' && event.service.id === info.id) live.end();
      });
      live.onEnd(() => {
        unfollow();
        events.unsubscribe();
      });
      live.flushHeadersSoon();
      return reply.send(live.body);
    },
  );
};

function encodeNdjson(record: LogRecord): Buffer {
  const line = { seq: record.seq, time: new Date(record.time).toISOString(), stream: record.stream, partial: record.partial, data: record.data.toString('base64') };
  return Buffer.from(`${JSON.stringify(line)}\n`);
}

function encodeText(record: LogRecord): Buffer {
  return record.partial ? record.data : Buffer.concat([record.data, NEWLINE]);
}
