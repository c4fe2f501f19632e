// The dependency graph: every process with its state, every dependsOn edge with whether it
// holds now and why not, and the start order. Read-only; `pidvisor graph` prints it.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { DependencyGraph, NoQuery } from '../schemas.generated.js';

export const graphRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get(
    '/v1/graph',
    {
      schema: { querystring: NoQuery, response: { 200: DependencyGraph } },
      config: {
        openapi: {
          operationId: 'getGraph',
          summary: 'The dependency graph: processes, dependsOn edges with their status, start order',
          description:
            'A process with dependencies starts once each meets its condition; until then it is `waiting`, or `blocked` when one cannot meet it until someone acts. Each edge says which (`status`) and why (`reason`). Stops (and the daemon shutdown) go in the reverse of `startOrder`: dependents first.',
          tags: ['processes'],
          errors: [],
        },
      },
    },
    async () => ctx.supervisor.graph(),
  );
};
