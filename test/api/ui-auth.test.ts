// The dashboard's sign-in on the daemon's TCP listener, request by request: what buys a
// session cookie (the token, a ticket, once), what the cookie then opens, and what it
// does not (a change asked by a page of another origin, or by no page at all; another
// Host); the files' headers.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, listen, type ListenHandle } from '../../api/server/index.js';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { PIDVISOR_BIN, requestJson } from '../helpers/daemon-process.js';
import { pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
const TOKEN = 'ui-auth-test-token-0123456789abcdef';
const TICKET_TTL_MS = 1500;

let dir = '';
let t: TestSupervisor;
let handle: ListenHandle;
let port = 0;
let origin = '';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(method: string, url: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: url,
        agent: false,
        headers: { host: `127.0.0.1:${port}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

const code = (answer: Answer): string => (JSON.parse(answer.body) as { code: string }).code;

/** The cookie a sign-in set, as a browser sends it back. */
function cookieOf(answer: Answer): string {
  const setCookie = answer.headers['set-cookie']?.[0];
  expect(setCookie).toBeDefined();
  return setCookie!.split(';')[0]!;
}

async function ticket(): Promise<string> {
  const { status, body } = await requestJson(handle.socketPath, 'POST', '/v1/ui/tickets');
  expect(status).toBe(201);
  return body.ticket as string;
}

beforeAll(async () => {
  if (unsupported !== null) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-ui-auth-'));
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
  t = createTestSupervisor();
  handle = await listen(buildApp(t.supervisor, { rateLimit: false, authFailureLimit: false, uiSessions: { ticketTtlMs: TICKET_TTL_MS } }), {
    socketPath: path.join(dir, 'run', 'api.sock'),
    tcp: { port: 0, tokenFile },
  });
  port = handle.tcp!.port;
  origin = `http://127.0.0.1:${port}`;
  const launched = await requestJson(handle.socketPath, 'POST', '/v1/processes', { name: 'web', command: ['sleep', '1000'], stopTimeoutMs: 2000 });
  expect(launched.status).toBe(201);
});

afterAll(async () => {
  if (unsupported !== null) return;
  await handle?.close();
  await t?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(unsupported !== null)('dashboard sign-in on the TCP listener', () => {
  it('the token buys an HttpOnly, SameSite=Strict session cookie; nothing else does', async () => {
    expect(code(await send('POST', '/ui/session'))).toBe('PIDVISOR_ERR_UNAUTHORIZED');
    expect((await send('POST', '/ui/session', { authorization: 'Bearer not-the-token-at-all-0000' })).status).toBe(401);
    expect((await send('GET', '/v1/processes', { cookie: 'pidvisor_session=forged-session-id-0123456789' })).status).toBe(401);

    const signedIn = await send('POST', '/ui/session', { authorization: `Bearer ${TOKEN}`, origin });
    expect(signedIn.status).toBe(204);
    const setCookie = signedIn.headers['set-cookie']![0]!;
    expect(setCookie).toMatch(/^pidvisor_session=[A-Za-z0-9_-]{43}; /);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).toContain('Path=/');
    expect(setCookie).not.toContain('Secure'); // plain http on loopback; Secure over TLS
    const cookie = cookieOf(signedIn);

    const list = await send('GET', '/v1/processes', { cookie, 'sec-fetch-site': 'same-origin' });
    expect(list.status).toBe(200);
    expect(list.body).toContain('"web"');
    // Another Host is refused even with the cookie (DNS rebinding).
    expect(code(await send('GET', '/v1/processes', { cookie, host: `rebound.example:${port}` }))).toBe('PIDVISOR_ERR_CROSS_ORIGIN');

    // Signed out: the same cookie opens nothing.
    const signedOut = await send('DELETE', '/ui/session', { cookie, origin });
    expect(signedOut.status).toBe(204);
    expect(signedOut.headers['set-cookie']![0]).toContain('Max-Age=0');
    expect((await send('GET', '/v1/processes', { cookie })).status).toBe(401);
  });

  it('a session changes things only from a page of this origin (CSRF): no Origin, or another, is 403 and nothing is touched', async () => {
    const cookie = cookieOf(await send('POST', '/ui/session', { authorization: `Bearer ${TOKEN}` }));
    const before = t.supervisor.get('web');
    const foreign: Array<Record<string, string>> = [{}, { origin: 'http://evil.example' }, { 'sec-fetch-site': 'same-site' }, { origin: 'null' }];
    for (const headers of foreign) {
      const refused = await send('POST', '/v1/processes/web/signal', { cookie, ...headers }, { signal: 'SIGKILL', instance: before.instance });
      expect(refused.status, JSON.stringify(headers)).toBe(403);
      expect(code(refused)).toBe('PIDVISOR_ERR_CROSS_ORIGIN');
    }
    expect(t.supervisor.get('web')).toMatchObject({ pid: before.pid, instance: before.instance });
    expect(fs.existsSync(`/proc/${before.pid}`)).toBe(true);
    // From its own origin the same request goes through.
    const sent = await send('POST', '/v1/processes/web/signal', { cookie, origin }, { signal: 'SIGCONT', instance: before.instance });
    expect(sent.status, sent.body).toBe(200);
    const bySite = await send('POST', '/v1/processes/web/signal', { cookie, 'sec-fetch-site': 'same-origin' }, { signal: 'SIGCONT', instance: before.instance });
    expect(bySite.status, bySite.body).toBe(200);
  });

  it('a ticket signs in once, and not after it expires', async () => {
    const once = await ticket();
    const first = await send('POST', '/ui/session', { origin }, { ticket: once });
    expect(first.status).toBe(204);
    expect((await send('GET', '/v1/system', { cookie: cookieOf(first) })).status).toBe(200);
    const second = await send('POST', '/ui/session', { origin }, { ticket: once });
    expect(second.status).toBe(401);
    expect(second.headers['set-cookie']).toBeUndefined();

    const late = await ticket();
    const issuedAt = Date.now();
    await pollUntil(() => Date.now() - issuedAt > TICKET_TTL_MS + 50, 5000);
    expect((await send('POST', '/ui/session', { origin }, { ticket: late })).status).toBe(401);
    // A ticket is minted only for a caller that is in already.
    expect((await send('POST', '/v1/ui/tickets', { origin })).status).toBe(401);
  });

  it('`pidvisor ui --url` prints a link to the daemon\'s own listener whose ticket signs in once', async () => {
    const printed = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [PIDVISOR_BIN, 'ui', '--url', origin, '--token-file', path.join(dir, 'token'), '--json'], { timeout: 20_000 }, (error, stdout, stderr) =>
        error === null ? resolve(stdout) : reject(new Error(`${error.message}\n${stderr}`)),
      );
    });
    const url = new URL((JSON.parse(printed) as { url: string }).url);
    expect(url.origin).toBe(origin);
    expect(url.pathname).toBe('/ui/');
    const ticketText = /^#ticket=([A-Za-z0-9_-]{43})$/.exec(url.hash)![1]!;
    expect((await send('POST', '/ui/session', { origin }, { ticket: ticketText })).status).toBe(204);
    expect((await send('POST', '/ui/session', { origin }, { ticket: ticketText })).status).toBe(401);
  });

  it('serves the files with a strict CSP, their types and ETags; nothing else under /ui/', async () => {
    const page = await send('GET', '/ui/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = page.headers['content-security-policy']!;
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"]) expect(csp).toContain(directive);
    expect(csp).not.toMatch(/unsafe|\*/);
    expect(page.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' });
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page.body).not.toMatch(/\sstyle=/);

    const script = await send('GET', '/ui/app.js');
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await send('GET', '/ui/app.js', { 'if-none-match': script.headers.etag! })).status).toBe(304);
    expect(code(await send('GET', '/ui/missing.js'))).toBe('PIDVISOR_ERR_ROUTE_NOT_FOUND');
    expect((await send('GET', '/ui/..%2Fpackage.json')).status).toBe(400);
    // Not a route, so not public: refused before anything is looked up.
    expect((await send('GET', '/ui/../package.json')).status).toBe(401);
  });
});
