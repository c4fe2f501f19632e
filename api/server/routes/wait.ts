// Long-poll for the exit of the current instance of a process.
//
// When `timeoutMs` passes first the answer is 200 {exit: null, timedOut: true}, not 408:
// the request was fine and fully received, it is the process that has not exited, and
// 408 invites clients and proxies to retry the same request blindly.
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ExitRecord } from '../../supervisor-api.js';
import type { AppContext } from '../context.js';
import { ApiError } from '../errors.js';
import { MAX_WAIT_MS, ProcessParams, WaitQuery, WaitResult } from '../schemas.generated.js';

type Outcome = { kind: 'exit'; exit: ExitRecord | null } | { kind: 'failed'; error: unknown } | { kind: 'timeout' } | { kind: 'closing' } | { kind: 'gone' };

export const waitRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  // One supervisor wait per instance however many clients poll it, so clients that give
  // up leave nothing behind in the service.
  const pending = new Map<string, Promise<ExitRecord | null>>();
  const exitOf = (ref: string): Promise<ExitRecord | null> => {
    const info = ctx.supervisor.get(ref);
    if (info.instance === null) return ctx.supervisor.wait(info.id); // the last exit, at once
    const key = `${info.id}/${info.instance}`;
    let exit = pending.get(key);
    if (exit === undefined) {
      exit = ctx.supervisor.wait(info.id);
      pending.set(key, exit);
      const forget = (): void => void pending.delete(key);
      exit.then(forget, forget);
    }
    return exit;
  };

  app.get(
    '/v1/processes/:id/wait',
    {
      schema: { params: ProcessParams, querystring: WaitQuery, response: { 200: WaitResult } },
      config: {
        openapi: {
          operationId: 'waitProcess',
          summary: 'Long-poll until the current instance exits',
          description:
            'Answers with the exit of the instance running when the request arrived, or at once with the last exit (null if none) when nothing runs. When `timeoutMs` passes first: 200 with `{exit: null, timedOut: true}`.',
          tags: ['processes'],
          errors: ['PIDVISOR_ERR_NOT_FOUND', 'PIDVISOR_ERR_HANDING_OVER'],
        },
      },
    },
    async (request, reply) => {
      const timeoutMs = request.query.timeoutMs === undefined ? null : Number(request.query.timeoutMs);
      if (timeoutMs !== null && timeoutMs > MAX_WAIT_MS) {
        throw new ApiError('PIDVISOR_ERR_VALIDATION', `invalid querystring: /timeoutMs: must be <= ${MAX_WAIT_MS}`, {
          problems: [{ in: 'querystring', path: '/timeoutMs', message: `must be <= ${MAX_WAIT_MS}` }],
        });
      }
      const outcome = await until(exitOf(request.params.id), timeoutMs, [ctx.closing, ctx.handOver.signal], reply.raw);
      if (outcome.kind === 'closing' && ctx.handOver.signal.aborted) {
        // The next daemon answers the same question: the client asks again.
        throw new ApiError('PIDVISOR_ERR_HANDING_OVER', 'the daemon is handing over to a new one (reexec); ask again', { retryAfterSeconds: 1 }, { headers: { 'retry-after': '1' } });
      }
      if (outcome.kind === 'closing') throw new ApiError('PIDVISOR_ERR_SHUTTING_DOWN', 'the daemon is shutting down');
      if (outcome.kind === 'failed') throw outcome.error;
      if (outcome.kind === 'exit') return { exit: outcome.exit, timedOut: false };
      return { exit: null, timedOut: true }; // timeout, or nobody left to read it
    },
  );
};

/** The first of: the exit, the timeout, the app closing (or handing over), the client going away. */
function until(exit: Promise<ExitRecord | null>, timeoutMs: number | null, closings: AbortSignal[], response: ServerResponse): Promise<Outcome> {
  if (closings.some((closing) => closing.aborted)) return Promise.resolve({ kind: 'closing' });
  return new Promise<Outcome>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (outcome: Outcome): void => {
      clearTimeout(timer);
      for (const closing of closings) closing.removeEventListener('abort', onClosing);
      response.off('close', onGone);
      resolve(outcome);
    };
    const onClosing = (): void => finish({ kind: 'closing' });
    const onGone = (): void => finish({ kind: 'gone' });
    for (const closing of closings) closing.addEventListener('abort', onClosing);
    response.on('close', onGone);
    if (timeoutMs !== null) timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    exit.then(
      (record) => finish({ kind: 'exit', exit: record }),
      (error: unknown) => finish({ kind: 'failed', error }),
    );
  });
}
