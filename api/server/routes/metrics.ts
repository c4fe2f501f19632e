// Prometheus scrape endpoint.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { METRICS_CONTENT_TYPE } from '../metrics.js';

export const metricsRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get(
    '/metrics',
    {
      config: {
        openapi: {
          operationId: 'getMetrics',
          summary: 'Prometheus metrics: processes by state, restarts, CPU, memory, tasks, fds and uptime of each running process, log bytes dropped, spawn failures, exits by reason, API requests by route and status',
          tags: ['system'],
          errors: [],
          content: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
    },
    async (_request, reply) => {
      await ctx.supervisor.refreshUsage();
      const text = ctx.metrics.render({
        processes: ctx.supervisor.list(),
        lastEventSeq: ctx.supervisor.events.lastSeq,
        liveStreams: ctx.streams.size,
        streamBufferedBytes: ctx.streams.bufferedBytes,
        streamsDropped: ctx.streams.dropped,
        launchesInFlight: ctx.launches.inUse,
      });
      return reply.type(METRICS_CONTENT_TYPE).send(text);
    },
  );
};
