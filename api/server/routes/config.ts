// The daemon's config file: reload it, and hear what changed or why it was refused.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ConfigChanges as Changes } from '../../supervisor-api.js';
import type { AppContext } from '../context.js';
import { ApiError } from '../errors.js';
import { ConfigChanges, NoBody } from '../schemas.generated.js';

export const configRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext; reload: (() => Promise<Changes>) | null }> = async (app, { reload }) => {
  app.post(
    '/v1/config/reload',
    {
      schema: { body: NoBody, response: { 200: ConfigChanges } },
      config: {
        openapi: {
          operationId: 'reloadConfig',
          summary: 'Re-read the config file and apply it, as SIGHUP does',
          description:
            'Every entry is checked before anything changes. A refused file answers 422 CONFIG_INVALID with `problems` (each with `path`, `line`, `column`, `message` and, where the schema lists them, the `allowed` values; see the ConfigProblem schema) and changes nothing. Otherwise removed services are stopped and forgotten, added ones started, and changed ones redefined in place: the same id, exit history, restart count and logs, a `reloaded` event naming the changed fields, and a restart if they were running. Reloads run one at a time.',
          tags: ['config'],
          errors: ['PIDVISOR_ERR_NO_CONFIG', 'PIDVISOR_ERR_CONFIG_INVALID'],
        },
      },
    },
    async (request) => {
      if (reload === null) throw new ApiError('PIDVISOR_ERR_NO_CONFIG', 'the daemon was started without --config: there is no file to reload');
      request.auditTarget = 'config';
      return reload();
    },
  );
};
