// The HTTP API as a fastify app built around a SupervisorApi. buildApp does not listen:
// tests drive it with inject(), and transport.ts puts it on a unix socket (and TCP).
//
// Validation rejects rather than repairs: ajv never coerces types, fills defaults or drops
// unknown properties, and the one body parser accepts only JSON. Every answer that is not
// a success is a problem+json body from the catalogue in errors.ts.
import { performance } from 'node:perf_hooks';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import pino from 'pino';
import type { SupervisorApi } from '../supervisor-api.js';
import { AuditLog } from './audit.js';
import { checkAuth, checkOrigin, peerOf, rateKeyOf } from './auth.js';
import { parseJsonBody } from './body-parser.js';
import { createContext, DEFAULT_BODY_LIMIT, type AppContext, type AppOptions } from './context.js';
import type { RateLimiter } from './limits.js';
import { ApiError, PROBLEM_CONTENT_TYPE, problemBody, toApiError, writeClientError } from './errors.js';
import { collectRoute } from './openapi.js';
import { configRoutes } from './routes/config.js';
import { eventRoutes } from './routes/events.js';
import { graphRoutes } from './routes/graph.js';
import { inspectRoutes } from './routes/inspect.js';
import { logRoutes } from './routes/logs.js';
import { metricsRoutes } from './routes/metrics.js';
import { processRoutes } from './routes/processes.js';
import { systemReexecRoutes } from './routes/system-reexec.js';
import { systemRoutes } from './routes/system.js';
import { uiRoutes } from './routes/ui.js';
import { waitRoutes } from './routes/wait.js';
import { LAUNCH_BODY_ID, LaunchBody, NoQuery } from './schemas.generated.js';

export type PidvisorApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export function buildApp(supervisor: SupervisorApi, options: AppOptions = {}): PidvisorApp {
  const logger = options.logger ?? pino({ level: 'silent' });
  const closing = new AbortController();
  const ctx = createContext(supervisor, options, logger, closing.signal);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // The audit and the metrics record requests; fastify's per-request lines would repeat them.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // verbose: an error carries its schema, so a union's description can explain it (errors.ts).
    // inlineRefs off: a $ref (the launch body's, schemas.ts) calls the one validator compiled
    // for it instead of copying it into each schema that refers to it.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, verbose: true, inlineRefs: false } },
    exposeHeadRoutes: false,
    // We answer requests during close ourselves, with a problem body.
    return503OnClosing: false,
    http: { headersTimeout: ctx.timeouts.headersMs, connectionsCheckingInterval: checkIntervalMs(ctx.timeouts.headersMs) },
    requestTimeout: ctx.timeouts.requestMs,
    keepAliveTimeout: ctx.timeouts.keepAliveMs,
    clientErrorHandler: writeClientError,
    // Bad percent-encoding, an over-long path parameter: found by the router, before any hook.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const apiError =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new ApiError('PIDVISOR_ERR_VALIDATION', 'invalid params: a path parameter is too long', { problems: [{ in: 'params', path: '/', message: 'too long' }] })
          : toApiError(error);
      request.problemCode = apiError.code;
      reply.code(apiError.status).type(PROBLEM_CONTENT_TYPE).send(problemBody(apiError));
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.decorate('pidvisor', ctx);
  app.decorateRequest('problemCode', null);
  app.decorateRequest('auditTarget', null);
  app.decorateRequest('auditDetail', null);
  app.decorateRequest('startedAt', 0);
  app.decorateRequest('authMethod', null);
  app.addHook('onRequest', async (request) => {
    request.startedAt = performance.now();
  });

  // Responses are documented by their schemas, not reshaped by them.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer, request.headers['content-type']));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  app.addHook('onRoute', (route) => {
    // A route that reads no query still rejects one rather than ignoring it.
    route.schema = { ...route.schema, querystring: route.schema?.querystring ?? NoQuery };
    collectRoute(ctx.routes, route);
  });
  installGuards(app, ctx);
  installErrorHandling(app);
  installAccounting(app, ctx);
  watchEvents(app, ctx);
  app.addHook('preClose', async () => {
    closing.abort();
    ctx.streams.endAll();
  });
  app.addHook('onClose', async () => ctx.audit.close());

  // Both launch routes validate it by reference (LaunchBodyRef): compiled once, not twice.
  app.addSchema({ ...LaunchBody, $id: LAUNCH_BODY_ID });
  app.register(systemRoutes, { ctx });
  app.register(processRoutes, { ctx });
  app.register(inspectRoutes, { ctx });
  app.register(graphRoutes, { ctx });
  app.register(waitRoutes, { ctx });
  app.register(logRoutes, { ctx });
  app.register(eventRoutes, { ctx });
  app.register(metricsRoutes, { ctx });
  app.register(configRoutes, { ctx, reload: options.reloadConfig ?? null });
  app.register(systemReexecRoutes, { ctx, reexec: options.reexec ?? null });
  app.register(uiRoutes, { ctx });
  return app;
}

/** How often Node checks the header and request timeouts (its default, 30 s, is coarser than they are). */
export function checkIntervalMs(headersMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(headersMs / 4)));
}

// In order: closing, browser origin, who the caller is, then its rate. The token is checked
// before the rate so that callers without it cannot spend the budget of the caller with it
// (every loopback client has the same address): failed attempts have a budget of their own,
// and past it they get 429 instead of another try at the token.
function installGuards(app: PidvisorApp, ctx: AppContext): void {
  app.addHook('onRequest', async (request, reply) => {
    if (ctx.closing.aborted) {
      reply.header('connection', 'close');
      throw new ApiError('PIDVISOR_ERR_SHUTTING_DOWN', 'the daemon is shutting down');
    }
    checkOrigin(request, ctx.allowedOrigins);
    const rateKey = rateKeyOf(peerOf(request));
    try {
      request.authMethod = checkAuth(request, ctx.uiSessions, request.routeOptions.config.public === true);
    } catch (error) {
      if (ctx.authFailureLimiter !== null) throwIfLimited(ctx.authFailureLimiter, rateKey, 'failed authentications');
      throw error;
    }
    if (ctx.rateLimiter !== null) throwIfLimited(ctx.rateLimiter, rateKey, 'requests');
  });
}

function throwIfLimited(limiter: RateLimiter, key: string, what: string): void {
  const decision = limiter.take(key);
  if (decision.ok) return;
  throw new ApiError('PIDVISOR_ERR_RATE_LIMITED', `too many ${what}; retry in ${decision.retryAfterSeconds} s`, { retryAfterSeconds: decision.retryAfterSeconds }, {
    headers: { 'retry-after': String(decision.retryAfterSeconds) },
  });
}

function installErrorHandling(app: PidvisorApp): void {
  app.setErrorHandler((error, request, reply) => {
    const apiError = toApiError(error);
    if (apiError.status >= 500 && apiError.code === 'PIDVISOR_ERR_INTERNAL') request.log.error({ err: error, url: request.url }, 'request failed');
    request.problemCode = apiError.code;
    return reply.code(apiError.status).headers(apiError.headers).type(PROBLEM_CONTENT_TYPE).send(problemBody(apiError));
  });
  app.setNotFoundHandler((request) => {
    throw new ApiError('PIDVISOR_ERR_ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
  });
}

function installAccounting(app: PidvisorApp, ctx: AppContext): void {
  const audit = (request: FastifyRequest, status: number, aborted: boolean): void => {
    if (!AuditLog.isAudited(request.method)) return;
    ctx.audit.write({
      reqId: request.id,
      method: request.method,
      url: request.url,
      route: request.routeOptions.url ?? null,
      status,
      code: request.problemCode,
      peer: peerOf(request),
      auth: request.authMethod,
      durationMs: Math.round(performance.now() - request.startedAt),
      target: request.auditTarget ?? (request.params as { id?: string } | undefined)?.id ?? null,
      detail: request.auditDetail,
      aborted,
    });
  };
  app.addHook('onResponse', async (request, reply) => {
    ctx.metrics.countRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode);
    audit(request, reply.statusCode, false);
  });
  app.addHook('onRequestAbort', async (request) => {
    ctx.metrics.countRequest(request.method, request.routeOptions.url ?? 'unmatched', 499);
    audit(request, 499, true);
  });
}

/** Spawn failures and exits are counted from the event log, from its oldest event kept. */
function watchEvents(app: PidvisorApp, ctx: AppContext): void {
  const subscription = ctx.supervisor.events.subscribe(0, (event) => ctx.metrics.countEvent(event));
  for (const event of subscription.backlog) ctx.metrics.countEvent(event);
  app.addHook('onClose', async () => subscription.unsubscribe());
}
