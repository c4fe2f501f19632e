// POST /v1/system/reexec: upgrade the daemon in place. The daemon hands every service, output
// pipe and listening socket to pidvisor-keeper and exits; the keeper re-executes itself from
// disk and starts the new daemon, which takes everything over (daemon/reexec.ts). Nothing is
// restarted. Answered 202 as soon as the hand-over has begun: the caller then waits for a
// daemon with another pid to answer GET /v1/system (`pidvisor daemon reexec` does).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { ApiError } from '../errors.js';
import { NoBody, ReexecAnswer } from '../schemas.generated.js';

/** What the daemon says when a hand-over begins (daemon/reexec.ts ReexecAccepted). */
export interface ReexecAccepted {
  daemonPid: number;
  keeperPid: number;
}

export const systemReexecRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext; reexec: (() => ReexecAccepted) | null }> = async (app, { reexec }) => {
  app.post(
    '/v1/system/reexec',
    {
      schema: { body: NoBody, response: { 202: ReexecAnswer } },
      config: {
        openapi: {
          operationId: 'reexecDaemon',
          summary: 'Upgrade the daemon in place: a new daemon (and keeper binary) takes over every service without restarting any',
          description:
            'The daemon stops accepting connections (the listening sockets stay open: requests made meanwhile wait in the backlog and are answered by the new daemon), answers the requests it accepted, stops reading output pipes and writes what it had read to disk (no captured byte is lost or written twice), syncs its state journal, and exits. pidvisor-keeper then re-executes its binary from disk, keeping its pid, its children and every fd it holds, and starts the new daemon from disk, which takes over every service with the same pid and instance. Answered 202 once the hand-over has begun; the new daemon is up when GET /v1/system answers with another `pid`. Long polls open during the hand-over answer 503 HANDING_OVER (ask again); event and log streams end (resume them). Refused with 409 NO_KEEPER when the daemon runs without the keeper (PIDVISOR_KEEPER=off).',
          tags: ['system'],
          errors: ['PIDVISOR_ERR_NO_KEEPER', 'PIDVISOR_ERR_HANDING_OVER'],
        },
      },
    },
    async (request, reply) => {
      request.auditTarget = 'daemon';
      if (reexec === null) throw new ApiError('PIDVISOR_ERR_NO_KEEPER', 'this daemon cannot hand over to a new one: only `pidvisor daemon` under pidvisor-keeper can (not `pidvisor init`)');
      const accepted = reexec();
      request.auditDetail = { ...accepted };
      // This connection is answered, then closed: the daemon is about to exit.
      reply.header('connection', 'close');
      return reply.code(202).send({
        ...accepted,
        detail: `daemon ${accepted.daemonPid} is handing over to pidvisor-keeper ${accepted.keeperPid}, which re-executes itself and starts a new daemon; every service keeps running`,
      });
    },
  );
};
