// pidvisor/client against a real `pidvisor daemon` (under its keeper): every route of the
// API through the client's typed methods, over the unix socket and over TCP with the token
// and TLS checked against a CA; problems as ApiError with their code; Idempotency-Key on
// launches.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, InsecureUrlError, PidvisorClient, UnreachableError, isProblem, type ProcessInfo } from '../../client/index.js';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { isRunning } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
const run = promisify(execFile);
const TOKEN = 'client-test-token-0123456789abcdef';

let dir = '';
let configFile = '';
let cert = '';
let tokenFile = '';
let daemon: DaemonProcess;
let tcpPort = 0;
let client: PidvisorClient;

const configWith = (names: string[]): string => ['services:', ...names.flatMap((name) => [`  ${name}:`, '    command: [sleep, "1000"]', '    startGraceMs: 0'])].join('\n');

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-client-'));
  configFile = path.join(dir, 'pidvisor.yaml');
  fs.writeFileSync(configFile, configWith(['from-config']));
  tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  // A throwaway self-signed certificate for localhost (openssl is in .ci/run's packages).
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  if (unsupported !== null) return;
  const socketPath = path.join(dir, 'run', 'pidvisor.sock');
  daemon = startDaemonProcess([
    '--socket', socketPath,
    '--state-dir', path.join(dir, 'state'),
    '--config', configFile,
    '--cgroup-name', `pidvisor-test-client-${process.pid}`,
    '--listen', '127.0.0.1:0',
    '--token-file', tokenFile,
    '--tls-cert', cert,
    '--tls-key', key,
  ]);
  const listening = await daemon.waitForLog((r) => r.msg === 'api listening', 30_000);
  tcpPort = (listening.tcp as { port: number }).port;
  client = new PidvisorClient({ socketPath });
});

afterAll(async () => {
  client?.close();
  if (daemon !== undefined) expect(await daemon.stop('SIGTERM')).toBe(0);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The client method that covers each operation of the OpenAPI document. */
const METHOD_OF_OPERATION: Record<string, keyof PidvisorClient> = {
  getSystem: 'system',
  health: 'health',
  getOpenApi: 'openApi',
  getMetrics: 'metrics',
  reloadConfig: 'reloadConfig',
  reexecDaemon: 'reexec',
  listProcesses: 'list',
  getProcess: 'get',
  inspectProcess: 'inspect',
  launchProcess: 'launch',
  launchProcesses: 'launchMany',
  startProcess: 'start',
  stopProcess: 'stop',
  restartProcess: 'restart',
  removeProcess: 'remove',
  removeProcesses: 'removeMatching',
  signalProcess: 'signal',
  waitProcess: 'wait',
  getProcessLogs: 'followLogs',
  streamEvents: 'events',
  createDashboardTicket: 'createDashboardTicket',
  getGraph: 'graph',
};
/** Operations for a browser, not a program: the dashboard's page and files, and its cookie session. */
const BROWSER_ONLY = ['dashboard', 'dashboardBare', 'dashboardFile', 'createDashboardSession', 'endDashboardSession'];

describe.skipIf(unsupported !== null)(`pidvisor/client against a real daemon${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('has a method for every operation the daemon documents', async () => {
    const document = (await client.openApi()) as { openapi: string; paths: Record<string, Record<string, { operationId: string }>> };
    expect(document.openapi).toBe('3.1.0');
    const operations = Object.values(document.paths).flatMap((methods) => Object.values(methods).map((op) => op.operationId));
    expect(operations.sort()).toEqual([...Object.keys(METHOD_OF_OPERATION), ...BROWSER_ONLY].sort());
    for (const method of Object.values(METHOD_OF_OPERATION)) expect(typeof client[method], method).toBe('function');
  });

  it('reads the daemon: system, health, metrics', async () => {
    const system = await client.system();
    expect(system).toMatchObject({ pid: daemon.supervisorPid(), stateDir: path.join(dir, 'state') });
    expect(await client.health()).toEqual({ status: 'ok' });
    expect(await client.metrics()).toMatch(/^# (HELP|TYPE) pidvisor_/m);
    const ticket = await client.createDashboardTicket();
    expect(ticket.path).toBe(`/ui/#ticket=${ticket.ticket}`);
  });

  it('launches, lists, inspects, signals, stops, starts, restarts and removes', async () => {
    const web = await client.launch({ name: 'web', command: ['sleep', '1000'], startGraceMs: 0, labels: { tier: 'front' } });
    expect(web).toMatchObject({ name: 'web', state: expect.stringMatching(/starting|running/), labels: { tier: 'front' }, origin: 'api' });
    expect(isRunning(web.pid!)).toBe(true);
    expect((await client.list()).map((p) => p.name)).toEqual(expect.arrayContaining(['web', 'from-config']));
    expect(await client.get(web.id)).toMatchObject({ id: web.id, pid: web.pid });
    const inspection = await client.inspect('web');
    expect(inspection.spec.command).toEqual(['sleep', '1000']);
    expect(inspection.tree.map((p) => p.pid)).toContain(web.pid);

    expect(await client.signal('web', 'SIGCONT', { instance: web.instance! })).toEqual({ pid: web.pid, instance: web.instance, signal: 18 });
    const mismatch = await client.signal('web', 'SIGTERM', { instance: `${web.pid}.0` }).catch((error: unknown) => error);
    expect(isProblem(mismatch, 'PIDVISOR_ERR_INSTANCE_MISMATCH')).toBe(true);
    expect(isRunning(web.pid!)).toBe(true); // nothing was sent

    const notThat = await client.stop('web', { instance: `${web.pid}.0` }).catch((error: unknown) => error);
    expect(notThat).toMatchObject({ status: 409, code: 'PIDVISOR_ERR_INSTANCE_MISMATCH' });
    expect(isRunning(web.pid!)).toBe(true);
    const stopped = await client.stop('web', { timeoutMs: 5000, instance: web.instance! });
    expect(stopped).toMatchObject({ state: 'stopped', pid: null });
    expect(isRunning(web.pid!)).toBe(false);
    const started = await client.start('web');
    expect(started.pid).not.toBe(web.pid);
    const restarted = await client.restart('web');
    expect(restarted.instance).not.toBe(started.instance);

    const graph = await client.graph();
    expect(graph.nodes.map((node) => node.name)).toContain('web');
    expect(graph.startOrder.flat()).toContain('web');

    const removed = await client.remove('web');
    expect(removed).toMatchObject({ id: web.id });
    expect(isRunning(restarted.pid!)).toBe(false);
    const gone = await client.get('web').catch((error: unknown) => error);
    expect(gone).toBeInstanceOf(ApiError);
    expect(gone).toMatchObject({ status: 404, code: 'PIDVISOR_ERR_NOT_FOUND', problem: { type: 'urn:pidvisor:problem:not-found', status: 404 } });
  });

  it('launches once per Idempotency-Key; the same key with another body is refused', async () => {
    const spec = { command: ['sleep', '1000'], labels: { set: 'idempotent' } };
    const first = await client.launch(spec, { idempotencyKey: `key-${process.pid}` });
    const again = await client.launch(spec, { idempotencyKey: `key-${process.pid}` });
    expect(again.id).toBe(first.id);
    const reused = await client.launch({ ...spec, command: ['sleep', '999'] }, { idempotencyKey: `key-${process.pid}` }).catch((error: unknown) => error);
    expect(reused).toMatchObject({ status: 422, code: 'PIDVISOR_ERR_IDEMPOTENCY_KEY_REUSED' });
    // Without a key given, each launch gets its own.
    const other = await client.launch(spec);
    expect(other.id).not.toBe(first.id);
    const removed = await client.removeMatching({ labels: { set: 'idempotent' } });
    expect(removed.map((p) => p.id).sort()).toEqual([first.id, other.id].sort());
  });

  it('launches a batch, waits for exits, reads logs, removes by label and reloads the config', async () => {
    const batch = await client.launchMany([
      { name: 'quick', command: ['sh', '-c', 'echo out; echo err >&2; exit 3'], restart: { policy: 'no' }, labels: { set: 'batch' } },
      { name: 'slow', command: ['sleep', '1000'], labels: { set: 'batch' } },
    ]);
    expect(batch.map((p) => p.name)).toEqual(['quick', 'slow']);
    expect((await client.wait('quick')).exit).toMatchObject({ code: 3, reason: 'exited' });
    expect(await client.wait('slow', { timeoutMs: 50 })).toEqual({ exit: null, timedOut: true });
    // The exit can come before the last bytes are read from the pipes.
    let logs = await client.logs('quick');
    for (let tries = 0; logs.length < 2 && tries < 200; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      logs = await client.logs('quick');
    }
    expect(logs.map((r) => [r.stream, r.data.toString()]).sort()).toEqual([['stderr', 'err'], ['stdout', 'out']]);
    expect((await client.logs('quick', { stream: 'stderr' })).map((r) => r.data.toString())).toEqual(['err']);
    expect((await client.removeMatching({ labels: { set: 'batch' } })).map((p) => p.name).sort()).toEqual(['quick', 'slow']);

    fs.writeFileSync(configFile, configWith(['from-config', 'added']));
    expect(await client.reloadConfig()).toEqual({ added: ['added'], changed: [], removed: [], unchanged: ['from-config'] });
    fs.writeFileSync(configFile, 'services: [');
    const refused = await client.reloadConfig().catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'PIDVISOR_ERR_CONFIG_INVALID', problem: { problems: expect.any(Array) } });
    const all = await client.removeMatching({ all: true });
    expect(all.map((p: ProcessInfo) => p.name).sort()).toEqual(['added', 'from-config']);
  });

  it('over TCP: the token, TLS checked against the given CA, and no clear text off this machine', async () => {
    const tcp = new PidvisorClient({ url: `https://localhost:${tcpPort}`, token: TOKEN, caFile: cert });
    try {
      expect((await tcp.system()).pid).toBe(daemon.supervisorPid());
      const launched = await tcp.launch({ command: ['true'], restart: { policy: 'no' } });
      expect((await tcp.wait(launched.id)).exit).toMatchObject({ code: 0 });
      await tcp.remove(launched.id);
    } finally {
      tcp.close();
    }
    const wrongToken = new PidvisorClient({ url: `https://localhost:${tcpPort}`, token: `${TOKEN}x`, caFile: cert });
    expect(await wrongToken.system().catch((error: unknown) => error)).toMatchObject({ status: 401, code: 'PIDVISOR_ERR_UNAUTHORIZED' });
    const untrusted = new PidvisorClient({ url: `https://localhost:${tcpPort}`, token: TOKEN });
    const refused = await untrusted.system().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UnreachableError);
    expect((refused as UnreachableError).code).toMatch(/CERT|SIGNATURE|ISSUER/);
    expect(() => new PidvisorClient({ url: 'http://example.com:7443', token: TOKEN })).toThrow(InsecureUrlError);
    expect(() => new PidvisorClient({ url: `http://127.0.0.1:${tcpPort}`, token: TOKEN, caFile: cert })).toThrow(InsecureUrlError);
  });
});
