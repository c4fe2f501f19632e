// The CLI and the bearer token over TCP: an https:// URL is spoken over TLS (a plain TCP
// listener sees a TLS handshake, never the token), the certificate is checked (a
// self-signed one only with --ca-file), and http:// to anything but loopback is refused
// before any connection is made.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { buildApp, listen, type ListenHandle } from '../../api/server/index.js';
import http from 'node:http';
import { PIDVISOR_BIN, startDaemonProcess } from '../helpers/daemon-process.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
const run = promisify(execFile);
const TOKEN = 'tls-test-token-0123456789abcdef';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PIDVISOR_BIN, ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

/** A plain TCP listener that keeps the bytes of each connection, and closes it once some arrived. */
async function plainListener(): Promise<{ port: number; received: Buffer[]; close(): Promise<void> }> {
  const received: Buffer[] = [];
  const server = net.createServer((socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // A TLS ClientHello or HTTP headers arrive whole in the first segments; enough to judge.
      if (Buffer.concat(chunks).length >= 200 || Buffer.concat(chunks).includes('\r\n\r\n')) socket.destroy();
    });
    socket.on('close', () => received.push(Buffer.concat(chunks)));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

let dir = '';
let tokenFile = '';
let cert = '';
let t: TestSupervisor;
let handle: ListenHandle;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-cli-tls-'));
  tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  // A throwaway self-signed certificate for localhost (openssl is in .ci/run's packages).
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  if (unsupported !== null) return;
  t = createTestSupervisor();
  handle = await listen(buildApp(t.supervisor), { socketPath: path.join(dir, 'run', 'api.sock'), tcp: { port: 0, tokenFile, tls: { certFile: cert, keyFile: key } } });
});

afterAll(async () => {
  await handle?.close();
  await t?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(unsupported !== null)('CLI over TCP', () => {
  it('speaks TLS to an https:// URL: a plain listener sees a handshake, never the token', async () => {
    const listener = await plainListener();
    try {
      const result = await cli('ps', '--url', `https://127.0.0.1:${listener.port}`, '--token-file', tokenFile);
      expect(result.code).toBe(3);
      expect(listener.received.length).toBeGreaterThan(0);
      for (const bytes of listener.received) {
        expect(bytes[0]).toBe(0x16); // a TLS handshake record
        expect(bytes.includes(TOKEN)).toBe(false);
        expect(bytes.toString('latin1')).not.toMatch(/authorization/i);
      }
      // The control: plain http to loopback is allowed, and there the token is visible.
      const before = listener.received.length;
      await cli('ps', '--url', `http://127.0.0.1:${listener.port}`, '--token-file', tokenFile);
      expect(listener.received.slice(before).some((bytes) => bytes.includes(`authorization: Bearer ${TOKEN}`))).toBe(true);
    } finally {
      await listener.close();
    }
  });

  it('checks the certificate: trusted with --ca-file, refused without', async () => {
    const url = `https://localhost:${handle.tcp!.port}`;
    const trusted = await cli('ps', '--url', url, '--token-file', tokenFile, '--ca-file', cert, '--json');
    expect(trusted).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(trusted.stdout)).toEqual([]);
    const untrusted = await cli('ps', '--url', url, '--token-file', tokenFile);
    expect(untrusted.code).toBe(3);
    expect(untrusted.stderr).toMatch(/certificate is not trusted: give its CA, or the self-signed certificate, with --ca-file/);
    const byAddress = await cli('ps', '--url', `https://127.0.0.1:${handle.tcp!.port}`, '--token-file', tokenFile, '--ca-file', cert);
    expect(byAddress.code).toBe(0);
  });

  it('refuses http:// to anything but loopback, before connecting', async () => {
    for (const url of ['http://192.0.2.1:7443', 'http://pidvisor.example:7443', 'http://[2001:db8::1]:7443', 'ftp://127.0.0.1:21']) {
      const result = await cli('ps', '--url', url, '--token-file', tokenFile);
      expect(result.code, url).toBe(2);
      expect(result.stderr, url).toMatch(url.startsWith('ftp') ? /http:\/\/ or https:\/\// : /refusing to send the bearer token in clear text/);
    }
    expect((await cli('ps', '--socket', '/nonexistent', '--ca-file', cert)).stderr).toMatch(/--ca-file goes with an https:\/\/ --url/);
  });

  it('`daemon --allow-host NAME` answers that Host; a malformed name is a usage error', async () => {
    const bad = await cli('daemon', '--socket', path.join(dir, 'bad.sock'), '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--allow-host', 'not a host!');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--allow-host takes a host name or address/);
    const daemon = startDaemonProcess([
      '--socket', path.join(dir, 'host.sock'), '--state-dir', path.join(dir, 'state'), '--cgroup-name', `pidvisor-test-allow-host-${process.pid}`,
      '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--allow-host', 'pidvisor.test',
    ]);
    try {
      const listening = await daemon.waitForLog((record) => record.msg === 'api listening');
      const port = (listening.tcp as { port: number }).port;
      const status = (host: string): Promise<number> =>
        new Promise((resolve, reject) => {
          http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, headers: { host, authorization: `Bearer ${TOKEN}` } }, (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          }).on('error', reject);
        });
      expect(await status(`pidvisor.test:${port}`)).toBe(200);
      expect(await status('elsewhere.test')).toBe(403);
    } finally {
      expect(await daemon.stop('SIGTERM')).toBe(0);
    }
  });
});
