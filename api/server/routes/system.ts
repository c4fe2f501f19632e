// The daemon itself: what it runs on, whether it is up, and the description of this API.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { VERSION } from '../../../daemon/version.js';
import type { AppContext } from '../context.js';
import { openApiDocument } from '../openapi.js';
import { Health, SystemInfo } from '../schemas.generated.js';

export const systemRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get(
    '/v1/system',
    {
      schema: { response: { 200: SystemInfo } },
      config: {
        openapi: { operationId: 'getSystem', summary: 'Version, kernel and detected kernel features', tags: ['system'], errors: [] },
      },
    },
    async () => ctx.supervisor.system(),
  );

  app.get(
    '/healthz',
    {
      schema: { response: { 200: Health } },
      config: {
        openapi: { operationId: 'health', summary: 'Liveness: 200 while the daemon serves, 503 once it is shutting down', tags: ['system'], errors: [] },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  // Built on first use: every route is registered by then.
  let document: Record<string, unknown> | undefined;
  app.get(
    '/openapi.json',
    {
      config: {
        openapi: {
          operationId: 'getOpenApi',
          summary: 'This document',
          tags: ['system'],
          errors: [],
          content: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { additionalProperties: true, type: 'object', properties: {} } } } } },
        },
      },
    },
    async (_request, reply) => {
      document ??= openApiDocument(ctx.routes, VERSION);
      return reply.type('application/json; charset=utf-8').send(document);
    },
  );
};
