// Launch, inspect, signal, stop, start, restart and remove processes (the long-poll wait is in wait.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SignalLike } from '../../../native/index.js';
import type { ExitRecord, ServiceInfo } from '../../supervisor-api.js';
import { peerOf, principalOf } from '../auth.js';
import type { AppContext } from '../context.js';
import { ApiError, PROBLEM_CONTENT_TYPE, problemBody, toApiError, type ErrorCode, type Problem } from '../errors.js';
import type { StoredResponse } from '../idempotency.js';
import {
  BatchLaunchBody,
  MAX_BATCH,
  RemoveManyQuery,
  LaunchBodyRef,
  LaunchHeaders,
  LaunchQuery,
  NoBody,
  ProcessInfo,
  ProcessList,
  ProcessParams,
  SignalBody,
  SignalResult,
  StopBody,
  StopQuery,
} from '../schemas.generated.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const tags = ['processes'];
const LAUNCH_ERRORS: ErrorCode[] = [
  'PIDVISOR_ERR_NAME_TAKEN',
  'PIDVISOR_ERR_SPAWN_FAILED',
  'PIDVISOR_ERR_UNKNOWN_USER',
  'PIDVISOR_ERR_UNKNOWN_GROUP',
  'PIDVISOR_ERR_CGROUP_UNAVAILABLE',
  'PIDVISOR_ERR_IDEMPOTENCY_KEY_REUSED',
  'PIDVISOR_ERR_TOO_MANY_LAUNCHES',
  'PIDVISOR_ERR_DEPENDENCY_UNKNOWN',
  'PIDVISOR_ERR_DEPENDENCY_CYCLE',
  'PIDVISOR_ERR_DEPENDENCY_UNAVAILABLE',
];
/** What `instance` in a stop or restart body means. */
const PRECONDITION =
  'With `instance` (from a process object read earlier), only while that instance is still the current one: 409 NOT_RUNNING when nothing runs, 409 INSTANCE_MISMATCH when another instance has replaced it; nothing is stopped then. A click on a stale page never stops the instance that replaced the one it showed.';
const MAX_READY_WAIT_MS = 86_400_000;

export const processRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  const { supervisor } = ctx;

  app.post(
    '/v1/processes',
    {
      schema: { body: LaunchBodyRef, headers: LaunchHeaders, querystring: LaunchQuery, response: { 200: ProcessInfo, 201: ProcessInfo } },
      config: {
        openapi: {
          operationId: 'launchProcess',
          summary: 'Create a process from a spec and start it',
          description:
            'Answers 201 once the process has exec\'d. An exec failure leaves nothing behind and answers 422 SPAWN_FAILED with `errno` (its name) and `stage`. With `dependsOn`, the dependencies it needs that are at rest (stopped, exited, failed) are started first, and the process answers `waiting` (or `blocked`, with the `reason`) until each meets its condition; a dependency on a name no process has is 422 DEPENDENCY_UNKNOWN, a cycle 422 DEPENDENCY_CYCLE (`cycle` lists it), one being removed 409 DEPENDENCY_UNAVAILABLE: nothing is left behind. With an `Idempotency-Key`, a retry with the same body gets the first response again (header `Idempotent-Replayed: true`), while the first still runs it waits for it; the same key with another body is 422 IDEMPOTENCY_KEY_REUSED. Keys are kept per caller for an hour. With `wait=ready` it answers only once the instance is ready (`running`), or 422 NOT_READY with the reason it will not be (see LaunchQuery). With `wait=exit` it answers once the instance has exited (`exit` in the answer), and with `remove=true` also removes it then, answering 200 with its last state: launch, wait and delete in one request, like `docker run --rm`. A hand-over to a new daemon (reexec) during that wait answers 503 WAIT_INTERRUPTED with the process\'s `id` and `instance`: the launch happened (do not send it again); the process runs on under the new daemon, which neither answers the wait nor removes it: wait with GET /v1/processes/{id}/wait (and remove it).',
          tags,
          errors: [...LAUNCH_ERRORS, 'PIDVISOR_ERR_NOT_READY', 'PIDVISOR_ERR_WAIT_INTERRUPTED'],
        },
      },
    },
    async (request, reply) => {
      request.auditDetail = { name: request.body.name ?? null, command: request.body.command };
      const { wait, readyTimeoutMs, remove } = request.query;
      if (remove !== undefined && wait !== 'exit') throw queryProblem('/remove', 'remove needs wait=exit');
      if (readyTimeoutMs !== undefined && Number(readyTimeoutMs) > MAX_READY_WAIT_MS) {
        throw new ApiError('PIDVISOR_ERR_VALIDATION', `readyTimeoutMs must be at most ${MAX_READY_WAIT_MS}`);
      }
      const waitReady = wait === 'ready' ? { timeoutMs: readyTimeoutMs === undefined ? null : Number(readyTimeoutMs) } : undefined;
      const launch = () => supervisor.launch(request.body, { origin: 'api', ...(waitReady === undefined ? {} : { waitReady }) });
      if (wait !== 'exit') return launchRoute(request, reply, request.headers['idempotency-key'], launch);
      // Refused before anything is made: such a launch starts no instance whose exit could be awaited.
      if (request.body.autostart === false) throw bodyProblem('/autostart', 'wait=exit needs a process that starts at launch (autostart: false starts none)');
      if (request.body.dependsOn !== undefined && Object.keys(request.body.dependsOn).length > 0) {
        throw bodyProblem('/dependsOn', 'wait=exit cannot be combined with dependsOn (the process may wait for its dependencies instead of starting)');
      }
      return launchRoute(request, reply, request.headers['idempotency-key'], launch, (info) => untilExit(info, remove === 'true'));
    },
  );

  app.post(
    '/v1/processes/batch',
    {
      schema: { body: BatchLaunchBody, headers: LaunchHeaders, response: { 201: ProcessList } },
      config: {
        openapi: {
          operationId: 'launchProcesses',
          summary: 'Create and start several processes at once, all or nothing',
          description:
            `Every spec and name is checked before anything starts (a problem names the entry in \`index\`, or in the validation path); entries may depend on each other. The children without dependencies are then spawned together, 64 at a time with other requests served between, then those with dependencies through their gate (they may answer \`waiting\` and start later, outside the all-or-nothing), and 201 answers with them in order once all have exec'd. If any cannot start, the others are stopped and removed, and 422 SPAWN_FAILED names the first that failed (\`index\`). Takes one launch slot; \`Idempotency-Key\` works as for a single launch. At most ${MAX_BATCH} per request.`,
          tags,
          errors: LAUNCH_ERRORS,
        },
      },
    },
    async (request, reply) => {
      const specs = request.body.processes;
      request.auditDetail = { count: specs.length, names: specs.map((spec) => spec.name ?? null), commands: specs.map((spec) => spec.command) };
      return launchRoute(request, reply, request.headers['idempotency-key'], async () => ({ processes: await supervisor.launchMany(specs) }));
    },
  );

  /**
   * A launch route's answer: run once, or once per Idempotency-Key (replayed after that).
   * `then`: what follows a successful launch in the same request (wait=exit), outside the
   * launches-in-flight limit, whose answer replaces the launch's.
   */
  async function launchRoute(
    request: FastifyRequest,
    reply: FastifyReply,
    key: string | undefined,
    launch: () => Promise<ServiceInfo | { processes: ServiceInfo[] }>,
    then?: (launched: ServiceInfo) => Promise<StoredResponse>,
  ): Promise<FastifyReply> {
    const run = async (): Promise<StoredResponse> => {
      const launched = await launchOnce(launch);
      if (then === undefined || launched.status !== 201) return launched;
      return asStored(() => then(launched.body as ServiceInfo));
    };
    if (key === undefined) return sendStored(request, reply, await run(), false);
    const { response, replayed } = await ctx.idempotency.run(principalOf(peerOf(request)), key, request.body, run);
    return sendStored(request, reply, response, replayed);
  }

  /** One launch (or batch), as the response to send. Refusals that a retry could get past are thrown, not returned. */
  async function launchOnce(launch: () => Promise<ServiceInfo | { processes: ServiceInfo[] }>): Promise<StoredResponse> {
    const release = ctx.launches.tryAcquire();
    if (release === null) {
      throw new ApiError('PIDVISOR_ERR_TOO_MANY_LAUNCHES', 'too many launches in progress; retry shortly', {}, { headers: { 'retry-after': '1' } });
    }
    try {
      return await asStored(async () => ({ status: 201, contentType: JSON_TYPE, body: await launch() }));
    } finally {
      release();
    }
  }

  /**
   * wait=exit: the exit of the instance the launch started (found in the exit history when it
   * has ended already, even if a restart replaced it), then with `remove` the removal, as
   * DELETE does. The answer is the process as it is then: 201 while it exists, 200 removed.
   */
  async function untilExit(launched: ServiceInfo, remove: boolean): Promise<StoredResponse> {
    const ended = (): boolean => supervisor.service(launched.id).exits.some((exit) => exit.instance === launched.instance);
    // Each turn waits for an exit; it stops when nothing runs (an exit history that no longer
    // reaches back to this instance: it ended long ago), so it never spins.
    while (launched.instance !== null && !ended() && supervisor.get(launched.id).instance !== null) {
      if ((await exitUnlessClosing(launched))?.instance === launched.instance) break;
    }
    if (!remove) return { status: 201, contentType: JSON_TYPE, body: supervisor.get(launched.id) };
    return { status: 200, contentType: JSON_TYPE, body: await supervisor.remove(launched.id) };
  }

  /**
   * The next exit of the process, or SHUTTING_DOWN once the app closes: the daemon stops its
   * services only after the API has closed, so a wait held open would hold the shutdown up.
   * A hand-over (reexec) ends the wait too, with WAIT_INTERRUPTED naming the process: the
   * launch happened, so the answer must not be one a client sends again (HANDING_OVER is), and
   * the client goes on waiting on the next daemon (client/client.ts launch).
   */
  function exitUnlessClosing(launched: ServiceInfo): Promise<ExitRecord | null> {
    const closing = (): ApiError =>
      ctx.handOver.signal.aborted
        ? new ApiError('PIDVISOR_ERR_WAIT_INTERRUPTED', `${launched.name ?? launched.id} was launched; the daemon is handing over to a new one (reexec): wait for it with GET /v1/processes/${launched.id}/wait`, {
            id: launched.id,
            instance: launched.instance,
          })
        : new ApiError('PIDVISOR_ERR_SHUTTING_DOWN', 'the daemon is shutting down');
    const signals = [ctx.closing, ctx.handOver.signal];
    if (signals.some((signal) => signal.aborted)) return Promise.reject(closing());
    return new Promise((resolve, reject) => {
      const onClosing = (): void => reject(closing());
      for (const signal of signals) signal.addEventListener('abort', onClosing, { once: true });
      const settle = (): void => {
        for (const signal of signals) signal.removeEventListener('abort', onClosing);
      };
      supervisor.wait(launched.id).then(
        (exit) => (settle(), resolve(exit)),
        (error: unknown) => (settle(), reject(error)),
      );
    });
  }

  app.get(
    '/v1/processes',
    {
      schema: { response: { 200: ProcessList } },
      config: { openapi: { operationId: 'listProcesses', summary: 'Every process', tags, errors: [] } },
    },
    async () => {
      await supervisor.refreshUsage();
      return { processes: supervisor.list() };
    },
  );

  app.delete(
    '/v1/processes',
    {
      schema: { querystring: RemoveManyQuery, response: { 200: ProcessList } },
      config: {
        openapi: {
          operationId: 'removeProcesses',
          summary: 'Stop and forget every process with the given labels (or all of them), in parallel',
          description:
            'Selects the processes whose labels include every `label=key=value` given (split at the first `=`), or every process with `all=true`; one of the two is required. Each is stopped as by DELETE /v1/processes/{id}; 200 answers with their last states once every tree is gone (an empty list when nothing matched).',
          tags,
          errors: [],
        },
      },
    },
    async (request) => {
      const { label, all } = request.query;
      const timeoutMs = parseTimeoutMs(request.query.timeoutMs);
      if (label === undefined && all === undefined) {
        throw new ApiError('PIDVISOR_ERR_VALIDATION', 'invalid querystring: give label=key=value (repeatable) or all=true', {
          problems: [{ in: 'querystring', path: '', message: 'needs label or all' }],
        });
      }
      if (label !== undefined && all !== undefined) {
        throw new ApiError('PIDVISOR_ERR_VALIDATION', 'invalid querystring: label and all=true exclude each other', {
          problems: [{ in: 'querystring', path: '/all', message: 'not with label' }],
        });
      }
      const selector = label === undefined ? 'all' : labelSelector(typeof label === 'string' ? [label] : label);
      const processes = await supervisor.removeMatching(selector, timeoutMs);
      request.auditDetail = { selector, removed: processes.map((p) => p.id) };
      return { processes };
    },
  );

  app.get(
    '/v1/processes/:id',
    {
      schema: { params: ProcessParams, response: { 200: ProcessInfo } },
      config: { openapi: { operationId: 'getProcess', summary: 'One process, by id or name', tags, errors: ['PIDVISOR_ERR_NOT_FOUND'] } },
    },
    async (request) => {
      await supervisor.refreshUsage(request.params.id);
      return supervisor.get(request.params.id);
    },
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
      // The audit says what was asked (even when refused) and, once sent, which instance got it.
      request.auditDetail = { signal, instance: instance ?? null, target: target ?? 'process' };
      const sent = supervisor.signal(request.params.id, signal as SignalLike, {
        ...(instance === undefined ? {} : { instance }),
        processGroup: target === 'group',
      });
      request.auditDetail = { ...request.auditDetail, signalled: sent };
      return sent;
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
          description: `${PRECONDITION} Dependents with \`restart: propagate\` on this process are stopped first, dependents first; other dependents are left alone (one waiting for it is then \`blocked\`).`,
          tags,
          errors: ['PIDVISOR_ERR_NOT_FOUND', 'PIDVISOR_ERR_NOT_RUNNING', 'PIDVISOR_ERR_INSTANCE_MISMATCH'],
        },
      },
    },
    async (request) => {
      const instance = request.body?.instance;
      if (instance !== undefined) request.auditDetail = { instance };
      return supervisor.stop(request.params.id, request.body?.timeoutMs, instance === undefined ? {} : { instance });
    },
  );

  app.post(
    '/v1/processes/:id/start',
    {
      schema: { params: ProcessParams, body: NoBody, response: { 200: ProcessInfo } },
      config: {
        openapi: {
          operationId: 'startProcess',
          summary: 'Start a process that is not running',
          description:
            'First starts the dependencies it needs (`dependsOn`) that are stopped, exited or failed, dependencies first; the process then starts once each meets its condition, answering `waiting` or `blocked` with the `reason` until then. 409 DEPENDENCY_UNAVAILABLE (nothing started) when one it needs no longer exists or is being removed.',
          tags,
          errors: ['PIDVISOR_ERR_NOT_FOUND', 'PIDVISOR_ERR_ALREADY_RUNNING', 'PIDVISOR_ERR_STOPPING', 'PIDVISOR_ERR_REMOVING', 'PIDVISOR_ERR_SPAWN_FAILED', 'PIDVISOR_ERR_DEPENDENCY_UNAVAILABLE'],
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
          description: `A removal that begins during the restart wins: nothing starts again, and the answer is 404. ${PRECONDITION} Dependencies it needs are started first, as for start. Dependents with \`restart: propagate\` on this process are stopped first (dependents first) and started again after it, once their condition holds; other dependents are left alone.`,
          tags,
          errors: ['PIDVISOR_ERR_NOT_FOUND', 'PIDVISOR_ERR_REMOVING', 'PIDVISOR_ERR_SPAWN_FAILED', 'PIDVISOR_ERR_NOT_RUNNING', 'PIDVISOR_ERR_INSTANCE_MISMATCH', 'PIDVISOR_ERR_DEPENDENCY_UNAVAILABLE'],
        },
      },
    },
    async (request) => {
      const instance = request.body?.instance;
      if (instance !== undefined) request.auditDetail = { instance };
      return supervisor.restart(request.params.id, request.body?.timeoutMs, instance === undefined ? {} : { instance });
    },
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
    async (request) => supervisor.remove(request.params.id, parseTimeoutMs(request.query.timeoutMs)),
  );

};

/** The `timeoutMs` of a query (digits, checked by the schema) as a number, at most an hour. */
function parseTimeoutMs(digits: string | undefined): number | undefined {
  const timeoutMs = digits === undefined ? undefined : Number(digits);
  if (timeoutMs !== undefined && timeoutMs > 3_600_000) {
    throw new ApiError('PIDVISOR_ERR_VALIDATION', 'invalid querystring: /timeoutMs: must be <= 3600000', {
      problems: [{ in: 'querystring', path: '/timeoutMs', message: 'must be <= 3600000' }],
    });
  }
  return timeoutMs;
}

/** `key=value` selectors (split at the first `=`) as one map; the same key twice must agree. */
function labelSelector(selectors: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const selector of selectors) {
    const at = selector.indexOf('=');
    const key = selector.slice(0, at);
    const value = selector.slice(at + 1);
    if (key in labels && labels[key] !== value) {
      throw new ApiError('PIDVISOR_ERR_VALIDATION', `invalid querystring: label ${JSON.stringify(key)} is asked with two values`, {
        problems: [{ in: 'querystring', path: '/label', message: 'one value per key' }],
      });
    }
    labels[key] = value;
  }
  return labels;
}

/** A success as the response to send, or the refusal a client could act on (a 4xx); anything worse is thrown. */
async function asStored(answer: () => Promise<StoredResponse>): Promise<StoredResponse> {
  try {
    return await answer();
  } catch (error) {
    const apiError = toApiError(error);
    if (apiError.status >= 500) throw error;
    return { status: apiError.status, contentType: PROBLEM_CONTENT_TYPE, body: problemBody(apiError) };
  }
}

function queryProblem(path: string, message: string): ApiError {
  return new ApiError('PIDVISOR_ERR_VALIDATION', `invalid querystring: ${message}`, { problems: [{ in: 'querystring', path, message }] });
}

function bodyProblem(path: string, message: string): ApiError {
  return new ApiError('PIDVISOR_ERR_VALIDATION', `invalid body: ${message}`, { problems: [{ in: 'body', path, message }] });
}

function sendStored(request: FastifyRequest, reply: FastifyReply, stored: StoredResponse, replayed: boolean): FastifyReply {
  if (stored.status < 300) {
    const body = stored.body as ServiceInfo | { processes: ServiceInfo[] };
    if ('processes' in body) {
      request.auditTarget = body.processes.map((p) => p.id).join(',');
    } else {
      request.auditTarget = body.id;
      if (stored.status === 201) reply.header('location', `/v1/processes/${body.id}`);
    }
  } else {
    request.problemCode = (stored.body as Problem).code;
  }
  if (replayed) reply.header('idempotent-replayed', 'true');
  return reply.code(stored.status).type(stored.contentType).send(stored.body);
}
