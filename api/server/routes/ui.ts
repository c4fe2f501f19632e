// The web dashboard: its files, and the sign-in that turns the token (or a ticket) into a
// session cookie (ui-session.ts). The files hold no data and are served to anyone who may
// reach the listener (the Host check still applies); everything the page shows comes from
// the API routes, with the same authentication, limits and audit as any other client.
//
// Every answer here carries a strict Content-Security-Policy: scripts, styles and
// connections only from the daemon itself, no inline script or style, no frames, and
// Trusted Types, so no string ever becomes HTML (the page builds its DOM node by node).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import type { AppContext } from '../context.js';
import { ApiError } from '../errors.js';
import { DashboardAssetParams, DashboardSessionBody, Ticket } from '../schemas.generated.js';
import { clearedSessionCookie, sessionCookie } from '../ui-session.js';
import { loadUiAssets, type UiAsset } from './ui-assets.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), usb=(), payment=()',
};

const tags = ['dashboard'];

export const uiRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  const assets = loadUiAssets();
  app.addHook('onSend', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS);
  });

  // The page at /ui too (its links are absolute), so a URL typed without the slash works.
  for (const url of ['/ui', '/ui/']) {
    app.get(
      url,
      {
        config: {
          public: true,
          openapi: { operationId: url === '/ui' ? 'dashboardBare' : 'dashboard', summary: 'The web dashboard (its page; the data comes from the API)', tags, errors: [], content: fileContent('The page', 'text/html') },
        },
      },
      async (request, reply) => sendAsset(reply, asset(assets, 'index.html'), request.headers['if-none-match']),
    );
  }

  app.get(
    '/ui/:file',
    {
      schema: { params: DashboardAssetParams },
      config: { public: true, openapi: { operationId: 'dashboardFile', summary: "A file of the dashboard (script, style sheet, icon)", tags, errors: [], content: fileContent('The file', 'text/javascript') } },
    },
    async (request, reply) => sendAsset(reply, asset(assets, request.params.file), request.headers['if-none-match']),
  );

  app.post(
    '/ui/session',
    {
      schema: { body: DashboardSessionBody },
      config: {
        public: true,
        openapi: {
          operationId: 'createDashboardSession',
          summary: 'Sign the browser in: trade the token or a ticket for a session cookie',
          description:
            'With `{"ticket": ...}`, spends that ticket (single use, see POST /v1/ui/tickets). Without one, the request must show the bearer token. Answers 204 with `Set-Cookie: pidvisor_session=...; HttpOnly; SameSite=Strict` (Secure over TLS); the cookie then stands for the token on every route, and a request that changes something must come from a page of this origin. 401 UNAUTHORIZED when the ticket or token is not valid.',
          tags,
          errors: [],
          content: { 204: { description: 'Signed in', content: {} } },
        },
      },
    },
    async (request, reply) => {
      const ticket = request.body?.ticket;
      if (ticket !== undefined) {
        if (!ctx.uiSessions.redeemTicket(ticket)) throw new ApiError('PIDVISOR_ERR_UNAUTHORIZED', 'the ticket is not valid: used already, expired, or never issued; run `pidvisor ui` again');
      } else if (request.authMethod === 'session') {
        return reply.code(204).send();
      } else if (request.authMethod === 'none') {
        throw new ApiError('PIDVISOR_ERR_UNAUTHORIZED', 'give a ticket, or the bearer token in Authorization', {}, { headers: { 'www-authenticate': 'Bearer realm="pidvisor"' } });
      }
      request.auditDetail = { via: ticket === undefined ? 'token' : 'ticket' };
      const session = ctx.uiSessions.createSession();
      return reply.code(204).header('set-cookie', sessionCookie(session.id, session.maxAgeSeconds, request.protocol === 'https')).header('cache-control', 'no-store').send();
    },
  );

  app.delete(
    '/ui/session',
    {
      config: {
        public: true,
        openapi: { operationId: 'endDashboardSession', summary: 'Sign the browser out: its session ends and its cookie is cleared', tags, errors: [], content: { 204: { description: 'Signed out', content: {} } } },
      },
    },
    async (request, reply) => {
      ctx.uiSessions.endSession(request.headers.cookie);
      return reply.code(204).header('set-cookie', clearedSessionCookie(request.protocol === 'https')).send();
    },
  );

  app.post(
    '/v1/ui/tickets',
    {
      schema: { response: { 201: Ticket } },
      config: {
        openapi: {
          operationId: 'createDashboardTicket',
          summary: 'A single-use ticket that signs a browser in to the dashboard (what `pidvisor ui` prints)',
          description:
            'The ticket lasts 5 minutes and buys one session (POST /ui/session). Open `path` on this listener: the ticket travels in the URL fragment, which browsers never send to a server, and the page spends it at once, so the link left in history opens nothing.',
          tags,
          errors: [],
        },
      },
    },
    async (_request, reply) => {
      const { ticket, expiresAt } = ctx.uiSessions.issueTicket();
      return reply.code(201).header('cache-control', 'no-store').send({ ticket, expiresAt, path: `/ui/#ticket=${ticket}` });
    },
  );
};

function asset(assets: ReadonlyMap<string, UiAsset>, name: string): UiAsset {
  const found = assets.get(name);
  if (found === undefined) throw new ApiError('PIDVISOR_ERR_ROUTE_NOT_FOUND', `no dashboard file ${name}`);
  return found;
}

function sendAsset(reply: FastifyReply, file: UiAsset, ifNoneMatch: string | undefined): FastifyReply {
  // no-cache: the browser checks the ETag each time, so an upgraded daemon's files show at once.
  reply.header('cache-control', 'no-cache').header('etag', file.etag);
  if (ifNoneMatch === file.etag) return reply.code(304).send();
  return reply.type(file.contentType).send(file.body);
}

function fileContent(description: string, mediaType: string): Record<number, { description: string; content: Record<string, { schema: { type: 'string' } }> }> {
  return { 200: { description, content: { [mediaType]: { schema: { type: 'string' } } } } };
}
