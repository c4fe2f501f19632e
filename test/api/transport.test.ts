// The API on the wire: unix socket permissions and peer-uid checks (with a real process of
// another uid), stale and live sockets, the audit trail, TCP with its bearer token, Host and
// Origin checks, TLS, and the HTTP parser's errors as problems.
import { execFile, spawn as spawnChild } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { buildApp, listen, type AppOptions, type ListenHandle, type ListenOptions, type PidvisorApp } from '../../api/server/index.js';
import { isRoot, pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
const run = promisify(execFile);
const TOKEN = 'a-test-token-0123456789abcdef';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Target = { socketPath: string } | { port: number; host?: string; tls?: boolean };

function request(target: Target, options: { path?: string; method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Reply> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const tls = 'tls' in target && target.tls === true;
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(
      {
        ...('socketPath' in target ? { socketPath: target.socketPath } : { host: target.host ?? '127.0.0.1', port: target.port }),
        path: options.path ?? '/healthz',
        method: options.method ?? 'GET',
        headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
        agent: false,
        ...(tls ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Writes raw bytes to the socket and returns whatever comes back until it closes. */
function rawExchange(socketPath: string, bytes: string, endAfterWrite = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('close', () => resolve(received));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' || error.code === 'EPIPE' ? resolve(received) : reject(error)));
    socket.write(bytes);
    if (endAfterWrite) socket.end();
  });
}

function problemOf(raw: string): { status: number; contentType: string; body: any } {
  const [head, body] = raw.split('\r\n\r\n');
  return {
    status: Number(/^HTTP\/1\.1 (\d+)/.exec(head!)![1]),
    contentType: /content-type: ([^\r]+)/i.exec(head!)![1]!,
    body: JSON.parse(body!),
  };
}

let t: TestSupervisor;
let dir: string;
let app: PidvisorApp;
let handle: ListenHandle | null;

beforeEach(() => {
  t = createTestSupervisor();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-api-'));
  handle = null;
});
afterEach(async () => {
  if (handle !== null) await handle.close();
  else await app?.close();
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function serve(listenOptions: ListenOptions = {}, appOptions: AppOptions = {}): Promise<ListenHandle> {
  app = buildApp(t.supervisor, appOptions);
  handle = await listen(app, { socketPath: path.join(dir, 'run', 'api.sock'), ...listenOptions });
  return handle;
}

function writeToken(file: string, token = TOKEN, mode = 0o600): string {
  fs.writeFileSync(file, `${token}\n`, { mode });
  fs.chmodSync(file, mode);
  return file;
}

/** A node process of another uid asks for /healthz: its status, or the error code it got. */
async function askAs(uid: number, socketPath: string): Promise<string> {
  const script = `
    const req = require('node:http').request({ socketPath: ${JSON.stringify(socketPath)}, path: '/healthz' }, (res) => {
      console.log('status ' + res.statusCode); res.resume();
    });
    req.on('error', (e) => console.log('error ' + e.code));
    req.end();`;
  const { stdout } = await run(process.execPath, ['-e', script], { uid, gid: uid, cwd: '/', timeout: 10_000 });
  return stdout.trim();
}

describe.skipIf(unsupported !== null)('unix socket transport', () => {
  it('creates the directory 0700 and the socket 0600, and serves on it', async () => {
    const { socketPath } = await serve();
    expect(fs.statSync(path.dirname(socketPath)).mode & 0o777).toBe(0o700);
    expect(fs.statSync(socketPath).mode & 0o777).toBe(0o600);
    expect(fs.statSync(socketPath).isSocket()).toBe(true);
    const reply = await request({ socketPath });
    expect(reply.status).toBe(200);
    await handle!.close();
    expect(fs.existsSync(socketPath)).toBe(false);
    await handle!.close(); // idempotent
  });

  it('records every mutating request in the audit file with the caller uid and pid', async () => {
    const auditFile = path.join(dir, 'state', 'audit.log');
    const { socketPath } = await serve({}, { audit: { file: auditFile } });
    expect(fs.statSync(auditFile).mode & 0o777).toBe(0o600);
    const launched = await request({ socketPath }, { method: 'POST', path: '/v1/processes', body: { name: 'audited', command: ['true'] } });
    expect(launched.status).toBe(201);
    await request({ socketPath }, { method: 'POST', path: '/v1/processes/nope/stop' });
    await request({ socketPath }, { path: '/v1/processes' }); // a read: not audited
    const sleeper = JSON.parse((await request({ socketPath }, { method: 'POST', path: '/v1/processes', body: { name: 'sleeper', command: ['sleep', '100'] } })).body);
    await request({ socketPath }, { method: 'POST', path: '/v1/processes/sleeper/signal', body: { signal: 'SIGUSR2', instance: 'stale.1' } });
    await request({ socketPath }, { method: 'POST', path: '/v1/processes/sleeper/signal', body: { signal: 'SIGCONT', instance: sleeper.instance } });
    await pollUntil(() => fs.readFileSync(auditFile, 'utf8').trim().split('\n').length >= 5);
    const entries = fs.readFileSync(auditFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(entries).toHaveLength(5);
    // A signal's entry names the signal and the instance asked for, and the one that got it.
    expect(entries[3]).toMatchObject({ route: '/v1/processes/:id/signal', status: 409, target: 'sleeper', detail: { signal: 'SIGUSR2', instance: 'stale.1', target: 'process' } });
    expect(entries[3].detail.signalled).toBeUndefined();
    expect(entries[4]).toMatchObject({
      status: 200,
      detail: { signal: 'SIGCONT', instance: sleeper.instance, signalled: { pid: sleeper.pid, instance: sleeper.instance, signal: 18 } },
    });
    expect(entries[0]).toMatchObject({
      audit: true,
      method: 'POST',
      route: '/v1/processes',
      status: 201,
      target: JSON.parse(launched.body).id,
      detail: { name: 'audited', command: ['true'] },
      peer: { transport: 'unix', uid: process.geteuid!(), pid: process.pid },
    });
    expect(entries[1]).toMatchObject({ status: 404, code: 'PIDVISOR_ERR_NOT_FOUND', target: 'nope', peer: { uid: process.geteuid!() } });
  });

  it('refuses a uid that is not allowed before reading its request', async () => {
    const { socketPath } = await serve({ allowedUids: [4242] });
    await expect(request({ socketPath })).rejects.toMatchObject({ code: expect.stringMatching(/ECONNRESET|EPIPE/) });
    expect(await rawExchange(socketPath, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')).toBe('');
    expect(app.pidvisor.metrics.render({ processes: [], lastEventSeq: 0, liveStreams: 0, streamBufferedBytes: 0, streamsDropped: {}, launchesInFlight: 0 })).toContain(
      'pidvisor_api_connections_rejected_total{reason="uid"} 2',
    );
  });

  it.skipIf(!isRoot())('checks the uid of a real process of another user (SO_PEERCRED)', async () => {
    // Default permissions: uid 65534 cannot even reach the socket.
    const { socketPath } = await serve();
    expect(await askAs(65534, socketPath)).toBe('error EACCES');
    await handle!.close();
    handle = null;

    // Open permissions: the peer check alone keeps it out...
    const open = path.join(dir, 'open');
    fs.chmodSync(dir, 0o711); // mkdtemp made it 0700
    fs.mkdirSync(open, { mode: 0o711 });
    fs.chmodSync(open, 0o711);
    app = buildApp(t.supervisor);
    handle = await listen(app, { socketPath: path.join(open, 'api.sock'), socketMode: 0o666 });
    expect(await askAs(65534, handle.socketPath)).toMatch(/^error (ECONNRESET|EPIPE)$/);
    await handle.close();

    // ...and lets it in once allowed (the control).
    app = buildApp(t.supervisor);
    handle = await listen(app, { socketPath: path.join(open, 'api.sock'), socketMode: 0o666, allowedUids: [0, 65534] });
    expect(await askAs(65534, handle.socketPath)).toBe('status 200');
  });

  it('replaces a stale socket, and refuses a live one naming its pid', async () => {
    const socketPath = path.join(dir, 'run', 'api.sock');
    fs.mkdirSync(path.dirname(socketPath), { mode: 0o700 });
    // A listener killed with SIGKILL leaves its socket file behind.
    const holder = spawnChild(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('ready'))`]);
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    const live = buildApp(t.supervisor);
    await expect(listen(live, { socketPath })).rejects.toThrow(new RegExp(`another daemon is listening on .*\\(pid ${holder.pid}\\)`));
    await live.close();
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    expect(fs.statSync(socketPath).isSocket()).toBe(true);
    await serve({ socketPath });
    expect((await request({ socketPath })).status).toBe(200);
  });

  it('refuses a path that is not a socket, and a directory others can write', async () => {
    const file = path.join(dir, 'file.sock');
    fs.writeFileSync(file, 'not a socket');
    app = buildApp(t.supervisor);
    await expect(listen(app, { socketPath: file })).rejects.toThrow(/exists and is not a socket/);
    const shared = path.join(dir, 'shared');
    fs.mkdirSync(shared);
    fs.chmodSync(shared, 0o777);
    await expect(listen(app, { socketPath: path.join(shared, 'api.sock') })).rejects.toThrow(/writable by others/);
    expect(fs.readFileSync(file, 'utf8')).toBe('not a socket');
  });

  it('answers the HTTP parser errors with problems: 400, 431, 408', async () => {
    const { socketPath } = await serve({}, { timeouts: { headersMs: 300, requestMs: 600 } });
    const garbage = problemOf(await rawExchange(socketPath, 'NOT HTTP AT ALL\r\n\r\n'));
    expect(garbage).toMatchObject({ status: 400, contentType: 'application/problem+json; charset=utf-8', body: { code: 'PIDVISOR_ERR_BAD_REQUEST' } });
    const huge = problemOf(await rawExchange(socketPath, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(huge).toMatchObject({ status: 431, body: { code: 'PIDVISOR_ERR_HEADERS_TOO_LARGE' } });
    const started = Date.now();
    const slow = problemOf(await rawExchange(socketPath, 'GET /healthz HTTP/1.1\r\nHost: x\r\n'));
    expect(slow).toMatchObject({ status: 408, body: { code: 'PIDVISOR_ERR_REQUEST_TIMEOUT' } });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses requests on a connection that did not come through the transport (403 FORBIDDEN)', async () => {
    app = buildApp(t.supervisor);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const reply = await request({ port: (app.server.address() as net.AddressInfo).port });
    expect(reply.status).toBe(403);
    expect(JSON.parse(reply.body).code).toBe('PIDVISOR_ERR_FORBIDDEN');
  });
});

describe.skipIf(unsupported !== null)('TCP transport', () => {
  it('needs the bearer token: 401 without or with a wrong one', async () => {
    const tokenFile = writeToken(path.join(dir, 'token'));
    const { tcp } = await serve({ tcp: { port: 0, tokenFile } });
    expect(tcp).toMatchObject({ host: '127.0.0.1', port: expect.any(Number) });
    const target = { port: tcp!.port };
    const none = await request(target);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="pidvisor"');
    expect(JSON.parse(none.body).code).toBe('PIDVISOR_ERR_UNAUTHORIZED');
    for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`, 'Bearer ']) {
      const wrong = await request(target, { headers: { authorization } });
      expect(wrong.status, authorization).toBe(401);
    }
    const ok = await request(target, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    const launched = await request(target, { method: 'POST', path: '/v1/processes', headers: { authorization: `Bearer ${TOKEN}` }, body: { command: ['true'] } });
    expect(launched.status).toBe(201);
  });

  it('refuses foreign Host and Origin headers, so a web page cannot drive it', async () => {
    const tokenFile = writeToken(path.join(dir, 'token'));
    const { tcp } = await serve({ tcp: { port: 0, tokenFile } });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const rebound = await request({ port: tcp!.port }, { headers: { ...auth, host: `evil.example:${tcp!.port}` } });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).code).toBe('PIDVISOR_ERR_CROSS_ORIGIN');
    const page = await request({ port: tcp!.port }, { headers: { ...auth, origin: 'http://evil.example' } });
    expect(JSON.parse(page.body).code).toBe('PIDVISOR_ERR_CROSS_ORIGIN');
    const local = await request({ port: tcp!.port }, { headers: { ...auth, host: `localhost:${tcp!.port}` } });
    expect(local.status).toBe(200);
  });

  it('answers the Host names given in allowedHosts (--allow-host), with or without the port', async () => {
    const tokenFile = writeToken(path.join(dir, 'token'));
    const { tcp } = await serve({ tcp: { host: '0.0.0.0', port: 0, tokenFile, allowInsecure: true, allowedHosts: ['pidvisor.test', 'other.test:1'] } });
    const auth = { authorization: `Bearer ${TOKEN}` };
    for (const host of ['pidvisor.test', `pidvisor.test:${tcp!.port}`, 'PIDVISOR.TEST', 'other.test:1', `0.0.0.0:${tcp!.port}`]) {
      expect((await request({ port: tcp!.port }, { headers: { ...auth, host } })).status, host).toBe(200);
    }
    for (const host of ['elsewhere.test', `other.test:${tcp!.port}`]) {
      const refused = await request({ port: tcp!.port }, { headers: { ...auth, host } });
      expect(refused.status, host).toBe(403);
      expect(JSON.parse(refused.body)).toMatchObject({ code: 'PIDVISOR_ERR_CROSS_ORIGIN', detail: expect.stringContaining('--allow-host') });
    }
  });

  it('refuses a non-loopback bind without TLS, a token others can read, a short token', async () => {
    const tokenFile = writeToken(path.join(dir, 'token'));
    app = buildApp(t.supervisor);
    const socketPath = path.join(dir, 'run', 'api.sock');
    await expect(listen(app, { socketPath, tcp: { host: '0.0.0.0', port: 0, tokenFile } })).rejects.toThrow(/without TLS/);
    expect(fs.existsSync(socketPath)).toBe(false); // refused before anything was touched
    await expect(listen(app, { socketPath, tcp: { port: 0, tokenFile: writeToken(path.join(dir, 'open-token'), TOKEN, 0o644) } })).rejects.toThrow(/readable by others/);
    await expect(listen(app, { socketPath, tcp: { port: 0, tokenFile: writeToken(path.join(dir, 'short-token'), 'short') } })).rejects.toThrow(/shorter than/);
    // Forced: it listens, with the token still required.
    handle = await listen(app, { socketPath, tcp: { host: '0.0.0.0', port: 0, tokenFile, allowInsecure: true } });
    expect((await request({ port: handle.tcp!.port })).status).toBe(401);
  });

  it('serves TLS when given a certificate', async () => {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost']);
    const tokenFile = writeToken(path.join(dir, 'token'));
    const { tcp } = await serve({ tcp: { port: 0, tokenFile, tls: { certFile: cert, keyFile: key } } });
    const target = { port: tcp!.port, tls: true };
    expect((await request(target)).status).toBe(401);
    expect((await request(target, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });
});
