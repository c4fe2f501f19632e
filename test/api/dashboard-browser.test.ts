// The web dashboard in a real headless Chromium (Debian's `chromium`, driven by
// playwright-core), against a real supervisor with real processes on the TCP listener:
// signed in with a ticket, the page loads with no console error and no CSP violation,
// lists the running services, a click on Stop ends the process (checked in /proc), a
// signal sent from the service page makes the process print a line that shows up in the
// followed log; without the token or a ticket the page gets nothing but 401s.
// Screenshots go to test-results/dashboard/ for review.
import { spawn as spawnWithLibuv } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, listen, type ListenHandle } from '../../api/server/index.js';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { PIDVISOR_BIN, requestJson } from '../helpers/daemon-process.js';
import { pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
const CHROMIUM = process.env.PIDVISOR_CHROMIUM ?? '/usr/bin/chromium';
const OUTPUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-results/dashboard');
const TOKEN = 'dashboard-test-token-0123456789abcdef';

let dir = '';
let t: TestSupervisor;
let handle: ListenHandle;
let browser: Browser;
let origin = '';
const auditFile = (): string => path.join(dir, 'audit.log');
const auditEntries = (): Array<Record<string, any>> =>
  fs.readFileSync(auditFile(), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, any>);

/** A context of its own per test: no cookie carries over. */
async function newPage(): Promise<{ context: BrowserContext; page: Page; problems: string[]; responses: Array<{ url: string; status: number }> }> {
  const context = await browser.newContext({ viewport: { width: 1180, height: 640 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems: string[] = [];
  const responses: Array<{ url: string; status: number }> = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('response', (response) => responses.push({ url: response.url(), status: response.status() }));
  // Runs before the page's own scripts (through the DevTools protocol, outside the page's CSP).
  await page.addInitScript({
    content: "document.addEventListener('securitypolicyviolation', (event) => console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`));",
  });
  return { context, page, problems, responses };
}

async function ticketPath(): Promise<string> {
  const { status, body } = await requestJson(handle.socketPath, 'POST', '/v1/ui/tickets');
  expect(status).toBe(201);
  return body.path as string;
}

async function launch(spec: Record<string, unknown>): Promise<{ id: string; pid: number; instance: string }> {
  const { status, body } = await requestJson(handle.socketPath, 'POST', '/v1/processes', spec);
  expect(status, JSON.stringify(body)).toBe(201);
  return body as { id: string; pid: number; instance: string };
}

/** The status of one request with exactly these headers (fetch will not send a foreign Host). */
function statusOf(port: number, method: string, url: string, headers: Record<string, string>, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method, path: url, headers, agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end(body);
  });
}

const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

beforeAll(async () => {
  if (unsupported !== null) return;
  fs.mkdirSync(OUTPUT, { recursive: true });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-dashboard-'));
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
  t = createTestSupervisor();
  handle = await listen(buildApp(t.supervisor, { audit: { file: auditFile() } }), { socketPath: path.join(dir, 'run', 'api.sock'), tcp: { port: 0, tokenFile } });
  origin = `http://127.0.0.1:${handle.tcp!.port}`;
  // Root cannot run Chromium's sandbox; the page is our own, on loopback.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});

afterAll(async () => {
  if (unsupported !== null) return;
  await browser?.close();
  await handle?.close();
  await t?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(unsupported !== null)('web dashboard in headless Chromium', { timeout: 60_000 }, () => {
  it('signed in with a ticket: lists the services live, Stop ends the process, the log view follows its output', async () => {
    const victim = await launch({ name: 'victim', command: ['sleep', '1000'], restart: { policy: 'no' }, stopTimeoutMs: 2000 });
    // Prints a line at start, and one more on each SIGUSR1 (sent from the page below).
    const talker = await launch({
      name: 'talker',
      command: ['sh', '-c', 'echo "talker up"; trap \'echo "got SIGUSR1 at $(date +%s%N)"\' USR1; while :; do sleep 0.1; done'],
      stopTimeoutMs: 2000,
    });
    const { context, page, problems, responses } = await newPage();
    try {
      await page.goto(`${origin}${await ticketPath()}`);
      // The ticket left the address bar before it was spent.
      await pollUntil(() => !page.url().includes('ticket='), 10_000);
      const rows = page.locator('#services tr');
      await rows.filter({ hasText: 'talker' }).waitFor();
      await page.locator('tr[data-service="victim"][data-state="running"]').waitFor();
      expect(await page.locator('tr[data-service="victim"]').textContent()).toContain(String(victim.pid));
      await page.locator('#live[data-live="live"]').waitFor();
      await page.screenshot({ path: path.join(OUTPUT, 'services.png') });

      // Stop really stops the process: checked in /proc, not on the page.
      expect(alive(victim.pid)).toBe(true);
      await page.locator('tr[data-service="victim"] button[data-action="stop"]').click();
      await pollUntil(() => !alive(victim.pid), 10_000);
      expect(alive(talker.pid)).toBe(true);
      // The page hears of it through the event stream.
      await page.locator('tr[data-service="victim"][data-state="stopped"]').waitFor();
      await page.locator('#feed li', { hasText: 'victim' }).first().waitFor();
      const stopRequest = responses.find((r) => r.url.endsWith('/v1/processes/' + victim.id + '/stop'));
      expect(stopRequest?.status).toBe(200);
      // Audited as any other request, with how the caller got in, and the instance it named.
      const audited = auditEntries().find((entry) => entry.url === `/v1/processes/${victim.id}/stop`);
      expect(audited).toMatchObject({ status: 200, auth: 'session', peer: { transport: 'tcp', address: '127.0.0.1' }, detail: { instance: victim.instance } });

      // The service page follows the output: the line printed at start, then one the page caused.
      await page.locator('tr[data-service="talker"] a').click();
      await page.locator('#log', { hasText: 'talker up' }).waitFor();
      await page.locator('#service select').selectOption('SIGUSR1');
      await page.locator('#service button[data-action="signal"]').click();
      await page.locator('#log', { hasText: 'got SIGUSR1 at' }).waitFor();
      expect(await page.locator('#service .facts').textContent()).toContain(talker.instance);
      await page.screenshot({ path: path.join(OUTPUT, 'service.png') });

      expect(problems).toEqual([]);
      expect(responses.filter((r) => r.status >= 400)).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('a service waiting for a dependency can be stopped from the page: the stop cancels its wait', async () => {
    // db stays `starting` (not ready) for an hour, so app waits for it with no process of its own.
    await launch({ name: 'slow-db', command: ['sleep', '1000'], startGraceMs: 3_600_000, stopTimeoutMs: 2000 });
    await launch({ name: 'app', command: ['sleep', '1000'], dependsOn: { 'slow-db': { condition: 'ready' } }, stopTimeoutMs: 2000 });
    const { context, page, problems } = await newPage();
    try {
      await page.goto(`${origin}${await ticketPath()}`);
      const stop = page.locator('tr[data-service="app"][data-state="waiting"] button[data-action="stop"]');
      await stop.waitFor();
      expect(await stop.isEnabled()).toBe(true);
      await stop.click({ timeout: 10_000 });
      await page.locator('tr[data-service="app"][data-state="stopped"]').waitFor();
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('without the token or a ticket the page gets nothing: 401s and the sign-in form, no service data', async () => {
    const secret = await launch({ name: 'secret-service', command: ['sleep', '1000'], stopTimeoutMs: 2000 });
    const { context, page, responses } = await newPage();
    try {
      await page.goto(`${origin}/ui/`);
      await page.locator('#sign-in').waitFor();
      const refused = await page.evaluate(async () => {
        const statuses: number[] = [];
        for (const url of ['/v1/processes', '/v1/events', '/v1/processes/secret-service/logs', '/metrics']) statuses.push((await fetch(url)).status);
        statuses.push((await fetch('/v1/processes/secret-service/stop', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status);
        statuses.push((await fetch('/ui/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ticket: 'x'.repeat(43) }) })).status);
        return statuses;
      });
      expect(refused).toEqual([401, 401, 401, 401, 401, 401]);
      const apiResponses = responses.filter((r) => new URL(r.url).pathname.startsWith('/v1/'));
      expect(apiResponses.length).toBeGreaterThan(0);
      expect(apiResponses.every((r) => r.status === 401)).toBe(true);
      expect(await page.content()).not.toContain('secret-service');
      expect(alive(secret.pid)).toBe(true);
      expect(t.supervisor.get('secret-service').instance).toBe(secret.instance);

      // A spent ticket opens nothing either.
      const spent = await ticketPath();
      const first = await newPage();
      await first.page.goto(`${origin}${spent}`);
      await first.page.locator('#services tr', { hasText: 'secret-service' }).waitFor();
      await first.context.close();
      await page.goto(`${origin}${spent}`);
      await page.locator('#sign-in-error', { hasText: 'no longer works' }).waitFor();
      expect(await page.content()).not.toContain('secret-service');
      await page.screenshot({ path: path.join(OUTPUT, 'sign-in.png') });
    } finally {
      await context.close();
    }
  });

  it('the token typed into the sign-in form also signs in; the page carries a strict CSP and no inline script', async () => {
    const { context, page, problems } = await newPage();
    try {
      const response = await page.goto(`${origin}/ui/`);
      const csp = response!.headers()['content-security-policy']!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(response!.headers()['x-frame-options']).toBe('DENY');
      expect(await page.locator('script:not([src])').count()).toBe(0);
      expect(await page.locator('[style]').count()).toBe(0);
      await page.locator('#token').fill(TOKEN);
      await page.locator('#sign-in button[type="submit"]').click();
      await page.locator('#services tr').first().waitFor();
      const cookies = await context.cookies();
      expect(cookies).toEqual([expect.objectContaining({ name: 'pidvisor_session', httpOnly: true, sameSite: 'Strict' })]);
      // Only the console's notes of the 401s before signing in.
      expect(problems.filter((text) => !/401 \(Unauthorized\)/.test(text))).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe.skipIf(unsupported !== null)('pidvisor ui for a daemon on its unix socket', { timeout: 60_000 }, () => {
  it('serves the dashboard on a loopback port with a one-time link; requests reach the socket as the CLI, audited; nothing without the cookie', async () => {
    const victim = await launch({ name: 'proxied-victim', command: ['sleep', '1000'], restart: { policy: 'no' }, stopTimeoutMs: 2000 });
    const cli = spawnWithLibuv(process.execPath, [PIDVISOR_BIN, 'ui', '--socket', handle.socketPath, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
    try {
      let stdout = '';
      cli.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      await pollUntil(() => stdout.includes('\n'), 15_000);
      const url = new URL((JSON.parse(stdout.split('\n')[0]!) as { url: string }).url);
      expect(url.hostname).toBe('127.0.0.1');
      expect(url.pathname).toBe('/ui/');
      expect(url.hash).toMatch(/^#ticket=[A-Za-z0-9_-]{43}$/);

      // Without the cookie: 401; a foreign Host (DNS rebinding) or Origin: 403.
      const bare = await fetch(`${url.origin}/v1/processes`);
      expect(bare.status).toBe(401);
      expect(await bare.text()).not.toContain('proxied-victim');
      expect(await statusOf(Number(url.port), 'GET', '/ui/', { host: `evil.example:${url.port}` })).toBe(403);
      expect(await statusOf(Number(url.port), 'POST', '/ui/session', { origin: 'http://evil.example', 'content-type': 'application/json' }, '{}')).toBe(403);

      const { context, page, problems } = await newPage();
      try {
        await page.goto(url.href);
        await page.locator('tr[data-service="proxied-victim"][data-state="running"]').waitFor();
        await page.locator('#live[data-live="live"]').waitFor();
        await page.locator('tr[data-service="proxied-victim"] button[data-action="stop"]').click();
        await pollUntil(() => !alive(victim.pid), 10_000);
        await page.locator('tr[data-service="proxied-victim"][data-state="stopped"]').waitFor();
        expect(problems).toEqual([]);
      } finally {
        await context.close();
      }
      // The daemon saw the CLI on its socket: its uid and pid, in the audit.
      const audited = auditEntries().find((entry) => entry.url === `/v1/processes/${victim.id}/stop`);
      expect(audited).toMatchObject({ status: 200, auth: 'unix', peer: { transport: 'unix', pid: cli.pid }, detail: { instance: victim.instance } });

      // The link was spent by the first browser.
      const again = await newPage();
      await again.page.goto(url.href);
      await again.page.locator('#sign-in-error', { hasText: 'no longer works' }).waitFor();
      await again.context.close();
    } finally {
      cli.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
