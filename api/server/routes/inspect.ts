// One process in full, for `pidvisor show`: its state, its spec, the processes of its tree
// now, and its last exits. Read-only.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { listTree } from '../../../daemon/tree-listing.js';
import type { AppContext } from '../context.js';
import { ProcessInspection, ProcessParams } from '../schemas.generated.js';

export const inspectRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get(
    '/v1/processes/:id/inspect',
    {
      schema: { params: ProcessParams, response: { 200: ProcessInspection } },
      config: {
        openapi: {
          operationId: 'inspectProcess',
          summary: 'One process in full: state, spec (env values hidden), the processes of its tree now, and its last exits',
          tags: ['processes'],
          errors: ['PIDVISOR_ERR_NOT_FOUND'],
        },
      },
    },
    async (request) => {
      await ctx.supervisor.refreshUsage(request.params.id);
      const service = ctx.supervisor.service(request.params.id);
      const info = service.info();
      const { spec } = service.definition;
      const env = spec.env === undefined ? undefined : Object.fromEntries(Object.keys(spec.env).map((key) => [key, '(hidden)']));
      return {
        process: info,
        spec: env === undefined ? spec : { ...spec, env },
        tree: listTree(info.killMode, info.pid, service.cgroup?.dir ?? null),
        exits: [...service.exits],
      };
    },
  );
};
