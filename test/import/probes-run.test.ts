// `pidvisor import` of a process-compose file with probes and depends_on conditions, run by
// a real daemon: the imported readiness_probe (http_get against a real HTTP server, exec with
// a working_dir of its own), ready_log_line and liveness_probe must work as probes, and the
// process_healthy / process_log_ready dependents must start only once they pass. The test
// holds each gate closed (files the processes and probes look at), checks who waits, opens
// it, and reads the start order from the file every process appends its name to.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { PIDVISOR_BIN, requestJson, startDaemonProcess } from '../helpers/daemon-process.js';
import { freeLoopbackPort } from '../helpers/ports.js';

const SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/import/gated-server.cjs');
const unsupported = pidfdUnsupportedReason();

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-import-probes-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PIDVISOR_BIN, ...args], { cwd: dir, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface ProcessView {
  state: string;
  reason: string;
  pid: number | null;
  restarts: number;
  probes: { readiness: { lastDetail: string | null; failures: number } | null; liveness: { lastDetail: string | null } | null };
}

describe.skipIf(unsupported !== null)(`process-compose probes and dependencies in a real daemon${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('readiness by http_get and by exec in its working_dir, a process_healthy chain, ready_log_line for process_log_ready, and a liveness restart', async () => {
    const gate = path.join(dir, 'gate');
    const work = path.join(dir, 'work');
    fs.mkdirSync(gate);
    fs.mkdirSync(work);
    const order = path.join(gate, 'order');
    fs.writeFileSync(order, '');
    const port = await freeLoopbackPort();
    const appended = (line: string) => `echo ${line} $$$$ >> "$$GATE_DIR/order"`;
    const source = path.join(dir, 'process-compose.yaml');
    fs.writeFileSync(
      source,
      `environment:
  - 'GATE_DIR=${gate}'
processes:
  server:
    command: exec "${process.execPath}" "${SERVER}" ${port}
    working_dir: work
    readiness_probe:
      http_get:
        host: 127.0.0.1
        port: ${port}
        path: /ready
      period_seconds: 1
      failure_threshold: 100000
    liveness_probe:
      http_get:
        port: ${port}
        path: /live
      period_seconds: 1
      failure_threshold: 2
    availability:
      restart: always
    shutdown:
      signal: 15
      timeout_seconds: 5
  db:
    command: ${appended('db')}; exec sleep 1000
    working_dir: work
    readiness_probe:
      exec:
        command: test -f db-ready
        working_dir: ${gate}
      period_seconds: 1
      failure_threshold: 100000
  web:
    command: ${appended('web')}; exec sleep 1000
    depends_on:
      server:
        condition: process_healthy
      db:
        condition: process_healthy
  logger:
    command: ${appended('logger')}; for i in $$(seq 1 3000); do [ -f "$$GATE_DIR/log" ] && break; sleep 0.1; done; echo "INFO server listening on :80 (ready)"; exec sleep 1000
    ready_log_line: "listening on :80 (ready)"
  tail:
    command: ${appended('tail')}; exec sleep 1000
    depends_on:
      logger:
        condition: process_log_ready
`,
    );
    const imported = await cli('import', source);
    expect(imported.code, imported.stderr).toBe(0);
    const config = path.join(dir, 'pidvisor.yaml');
    fs.writeFileSync(config, imported.stdout);
    const check = await cli('check', '--config', config);
    expect(check.code, check.stderr).toBe(0);

    const socket = path.join(dir, 'api.sock');
    const daemon = startDaemonProcess(['--config', config, '--socket', socket, '--state-dir', path.join(dir, 'state'), '--cgroup-name', `pidvisor-test-import-probes-${process.pid}`]);
    const view = async (name: string): Promise<ProcessView> => {
      const { status, body } = await requestJson(socket, 'GET', `/v1/processes/${name}`);
      if (status !== 200) throw new Error(`GET /v1/processes/${name}: ${status} ${JSON.stringify(body)}`);
      return body as unknown as ProcessView;
    };
    const started = (): string[] => fs.readFileSync(order, 'utf8').trim().split('\n').filter(Boolean).map((line) => line.split(' ')[0]!);
    const pids = (): number[] => fs.readFileSync(order, 'utf8').trim().split('\n').filter(Boolean).map((line) => Number(line.split(' ')[1]));
    try {
      await until('the daemon answers', async () => fs.existsSync(socket) && (await requestJson(socket, 'GET', '/healthz').catch(() => ({ status: 0 }))).status === 200);
      // Gates closed: the server answers /ready with 503 and db's exec probe finds no file,
      // so both stay starting, and web, which needs both healthy, waits.
      await until('server and db probed and not ready', async () => {
        const [server, db] = [await view('server'), await view('db')];
        return server.probes.readiness?.lastDetail === 'status 503' && (db.probes.readiness?.failures ?? 0) >= 1;
      });
      expect((await view('server')).state).toBe('starting');
      expect((await view('db')).state).toBe('starting');
      const web = await view('web');
      expect(web.state).toBe('waiting');
      expect(web.reason).toMatch(/server \(ready\)/u);
      expect((await view('logger')).state).toBe('starting');
      expect((await view('tail')).state).toBe('waiting');

      // The server's readiness by http_get: it becomes running; web still waits for db.
      fs.writeFileSync(path.join(gate, 'ready'), '');
      await until('server ready', async () => (await view('server')).state === 'running');
      expect((await view('web')).state).toBe('waiting');
      expect(started()).not.toContain('web');

      // db's exec probe runs in its own working_dir (the gate), not db's (work).
      fs.writeFileSync(path.join(gate, 'db-ready'), '');
      await until('web started', async () => started().includes('web'));
      expect((await view('db')).state).toBe('running');
      expect(started().indexOf('web')).toBeGreaterThan(Math.max(started().indexOf('server'), started().indexOf('db')));

      // ready_log_line: the logger is ready at its line, and tail starts after it.
      expect(started()).not.toContain('tail');
      expect((await view('tail')).state).toBe('waiting');
      fs.writeFileSync(path.join(gate, 'log'), '');
      await until('tail started', async () => started().includes('tail'));
      expect((await view('logger')).state).toBe('running');

      // The liveness probe: /live answers 500, and after 2 failures the server is restarted.
      const first = await view('server');
      fs.writeFileSync(path.join(gate, 'dead'), '');
      await until('server restarted by its liveness probe', async () => (await view('server')).restarts > first.restarts);
      fs.rmSync(path.join(gate, 'dead'));
      await until('the new server ready', async () => (await view('server')).state === 'running');
      expect((await view('server')).pid).not.toBe(first.pid);
      expect(daemon.logs.some((record) => /liveness http GET http:\/\/127\.0\.0\.1:\d+\/live failed 2 times/u.test(JSON.stringify(record)))).toBe(true);

      const everyPid = pids();
      expect(await daemon.stop('SIGTERM')).toBe(0);
      for (const pid of everyPid) expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
    } finally {
      if (daemon.process.exitCode === null && daemon.process.signalCode === null) await daemon.stop('SIGKILL');
    }
  }, 120_000);
});
