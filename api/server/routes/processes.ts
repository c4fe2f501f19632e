// Launch, inspect, signal, stop, start, restart and remove processes (the long-poll wait is in wait.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { SignalLike } from '../../../native/index.js';
import { peerOf, principalOf } from '../auth.js';
import type { AppContext } from '../context.js';
import { ApiError, PROBLEM_CONTENT_TYPE, problemBody, toApiError, type Problem } from '../errors.js';
import type { StoredResponse } from '../idempotency.js';
import {
  LaunchBody,
  LaunchHeaders,
  ProcessInfo,
  ProcessList,
  ProcessParams,
  SignalBody,
  SignalResult,
  StopBody,
  StopQuery,
} from '../schemas.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const tags = ['processes'];
const StartBody = Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]);

export const processRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  const { supervisor } = ctx;

  app.post(
    '/v1/processes',
    {
      schema: { body: LaunchBody, headers: LaunchHeaders, response: { 201: ProcessInfo } },
      config: {
        openapi: {
          operationId: 'launchProcess',
          summary: 'Create a process from a spec and start it',
          description:
            'Answers 201 once the process has exec\'d. An exec failure leaves nothing behind and answers 422 SPAWN_FAILED with `errno` (its name) and `stage`. With an `Idempotency-Key`, a retry with the same body gets the first response again (header `Idempotent-Replayed: true`), while the first still runs it waits for it; the same key with another body is 422 IDEMPOTENCY_KEY_REUSED. Keys are kept per caller for an hour.',
          tags,
          errors: [
            'PIDVISOR_ERR_NAME_TAKEN',
            'PIDVISOR_ERR_SPAWN_FAILED',
            'PIDVISOR_ERR_UNKNOWN_USER',
            'PIDVISOR_ERR_UNKNOWN_GROUP',
            'PIDVISOR_ERR_CGROUP_UNAVAILABLE',
            'PIDVISOR_ERR_IDEMPOTENCY_KEY_REUSED',
            'PIDVISOR_ERR_TOO_MANY_LAUNCHES',
          ],
        },
      },
    },
    async (request, reply) => {
      request.auditDetail = { name: request.body.name ?? null, command: request.body.command };
      const key = request.headers['idempotency-key'];
      if (key === undefined) return sendStored(request, reply, await launchOnce(request.body), false);
      const { response, replayed } = await ctx.idempotency.run(principalOf(peerOf(request)), key, request.body, () => launchOnce(request.body));
      return sendStored(request, reply, response, replayed);
    },
  );

  /** One launch, as the response to send. Refusals that a retry could get past are thrown, not returned. */
  async function launchOnce(body: unknown): Promise<StoredResponse> {
    const release = ctx.launches.tryAcquire();
    if (release === null) {
      throw new ApiError('PIDVISOR_ERR_TOO_MANY_LAUNCHES', 'too many launches in progress; retry shortly', {}, { headers: { 'retry-after': '1' } });
    }
    try {
      const info = await supervisor.launch(body, { origin: 'api' });
      return { status: 201, contentType: JSON_TYPE, body: info };
    } catch (error) {
      const apiError = toApiError(error);
      if (apiError.status >= 500) throw error;
      return { status: apiError.status, contentType: PROBLEM_CONTENT_TYPE, body: problemBody(apiError) };
    } finally {
      release();
    }
  }

  app.get(
    '/v1/processes',
    {
      schema: { response: { 200: ProcessList } },
      config: { openapi: { operationId: 'listProcesses', summary: 'Every process', tags, errors: [] } },
    },
    async () => ({ processes: supervisor.list() }),
  );

  app.get(
    '/v1/processes/:id',
    {
      schema: { params: ProcessParams, response: { 200: ProcessInfo } },
      config: { openapi: { operationId: 'getProcess', summary: 'One process, by id or name', tags, errors: ['PIDVISOR_ERR_NOT_FOUND'] } },
    },
    async (request) => supervisor.get(request.params.id),
  );

  app.post(
    '/v1/processes/:id/signal',
    {
      schema: { params: ProcessParams, body: SignalBody, response: { 200: SignalResult } },
      config: {
        openapi: {
          operationId: 'signalProcess',
          summary: 'Send a signal to the current instance (through its pidfd), or to its process group',
          description: 'With `instance`, only if that instance is still the current one. 409 when nothing runs or the instance is not current: nothing is signalled then.',
          tags,
          errors: ['PIDVISOR_ERR_NOT_FOUND', 'PIDVISOR_ERR_NOT_RUNNING', 'PIDVISOR_ERR_INSTANCE_MISMATCH'],
        },
      },
    },
    async (request) => {
      const { signal, instance, target } = request.body;
      return supervisor.signal(request.params.id, signal as SignalLike, {
        ...(instance === undefined ? {} : { instance }),
        processGroup: target === 'group',
      });
    },
  );

  app.post(
    '/v1/processes/:id/stop',
    {
      schema: { params: ProcessParams, body: StopBody, response: { 200: ProcessInfo } },
      config: {
        openapi: {
          operationId: 'stopProcess',
          summary: 'Stop the process and everything it started; answers once they are gone',
          tags,
          errors: ['PIDVISOR_ERR_NOT_FOUND'],
        },
      },
    },
    async (request) => supervisor.stop(request.params.id, request.body?.timeoutMs),
  );

  app.post(
    '/v1/processes/:id/start',
    {
      schema: { params: ProcessParams, body: StartBody, response: { 200: ProcessInfo } },
      config: {
        openapi: {
          operationId: 'startProcess',
          summary: 'Start a process that is not running',
          tags,
          errors: ['PIDVISOR_ERR_NOT_FOUND', 'PIDVISOR_ERR_ALREADY_RUNNING', 'PIDVISOR_ERR_STOPPING', 'PIDVISOR_ERR_SPAWN_FAILED'],
        },
      },
    },
    async (request) => supervisor.start(request.params.id),
  );

  app.post(
    '/v1/processes/:id/restart',
    {
      schema: { params: ProcessParams, body: StopBody, response: { 200: ProcessInfo } },
      config: {
        openapi: {
          operationId: 'restartProcess',
          summary: 'Stop the current instance (if any) and start a new one',
          tags,
          errors: ['PIDVISOR_ERR_NOT_FOUND', 'PIDVISOR_ERR_SPAWN_FAILED'],
        },
      },
    },
    async (request) => supervisor.restart(request.params.id, request.body?.timeoutMs),
  );

  app.delete(
    '/v1/processes/:id',
    {
      schema: { params: ProcessParams, querystring: StopQuery, response: { 200: ProcessInfo } },
      config: {
        openapi: {
          operationId: 'removeProcess',
          summary: 'Stop the process and forget it, with its logs; answers with its last state',
          tags,
          errors: ['PIDVISOR_ERR_NOT_FOUND'],
        },
      },
    },
    async (request) => {
      const timeoutMs = request.query.timeoutMs === undefined ? undefined : Number(request.query.timeoutMs);
      if (timeoutMs !== undefined && timeoutMs > 3_600_000) {
        throw new ApiError('PIDVISOR_ERR_VALIDATION', 'invalid querystring: /timeoutMs: must be <= 3600000', {
          problems: [{ in: 'querystring', path: '/timeoutMs', message: 'must be <= 3600000' }],
        });
      }
      return supervisor.remove(request.params.id, timeoutMs);
    },
  );

};

function sendStored(request: FastifyRequest, reply: FastifyReply, stored: StoredResponse, replayed: boolean): FastifyReply {
  if (stored.status === 201) {
    const id = (stored.body as { id: string }).id;
    request.auditTarget = id;
    reply.header('location', `/v1/processes/${id}`);
  } else {
    request.problemCode = (stored.body as Problem).code;
  }
  if (replayed) reply.header('idempotent-replayed', 'true');
  return reply.code(stored.status).type(stored.contentType).send(stored.body);
}
