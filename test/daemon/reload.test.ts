// Reloading the config of a real daemon (POST /v1/config/reload, `pidvisor reload`, SIGHUP):
// a changed service is redefined in place (same id, history, restart count and logs, with
// an event naming the changed fields), a refused file changes nothing and says where and
// why, and `pidvisor check` finds the same problems without a daemon.
import { execFile, spawn as spawnWithLibuv } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { PIDVISOR_BIN, requestJson, requestText, startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { isRunning, pollUntil } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
let dir = '';
let socket = '';
let configFile = '';
let daemon: DaemonProcess | undefined;

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PIDVISOR_BIN, ...args], { env: { ...process.env, PIDVISOR_SOCKET: socket }, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

/** A service that prints its version, then sleeps; `extra` lines go into its entry. */
function writeConfig(version: string, extra: string[] = []): void {
  fs.writeFileSync(
    configFile,
    [
      'services:',
      '  web:',
      `    command: [sh, -c, "echo ${version}; exec sleep 1000"]`,
      '    startGraceMs: 0',
      '    stopTimeoutMs: 2000',
      ...extra.map((line) => `    ${line}`),
      '  other:',
      '    command: [sleep, "1000"]',
      '    startGraceMs: 0',
      '',
    ].join('\n'),
  );
}

const web = async (): Promise<Record<string, unknown>> => (await requestJson(socket, 'GET', '/v1/processes/web')).body;

/** The events of the daemon so far, from its event stream (read until `until` shows up). */
async function eventsUntil(until: (events: Array<Record<string, unknown>>) => boolean): Promise<Array<Record<string, unknown>>> {
  const events: Array<Record<string, unknown>> = [];
  let request: http.ClientRequest | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      request = http.get({ socketPath: socket, path: '/v1/events?after=0', agent: false }, (response) => {
        let pending = '';
        response.on('data', (chunk: Buffer) => {
          pending += chunk.toString();
          const blocks = pending.split('\n\n');
          pending = blocks.pop()!;
          for (const block of blocks) {
            const data = block.split('\n').find((line) => line.startsWith('data: '));
            if (data !== undefined) events.push(JSON.parse(data.slice('data: '.length)) as Record<string, unknown>);
          }
          if (until(events)) resolve();
        });
        response.on('error', reject);
      });
      request.on('error', reject);
    });
  } finally {
    request?.destroy();
  }
  return events;
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-reload-'));
  socket = path.join(dir, 'run', 'pidvisor.sock');
  configFile = path.join(dir, 'services.yaml');
});

afterEach(async () => {
  const stopped = daemon?.stop('SIGTERM');
  const timeout = new Promise((resolve) => setTimeout(resolve, 15_000).unref());
  if (stopped !== undefined && (await Promise.race([stopped, timeout.then(() => 'timeout')])) === 'timeout') await daemon?.stop('SIGKILL');
  daemon = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(unsupported !== null)(`config reload${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('redefines a changed service in place: same id, restart count, exit history and logs, and an event naming the fields', async () => {
    writeConfig('one');
    daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state'), '--config', configFile]);
    await daemon.waitForLog((r) => r.msg === 'config applied', 20_000);
    await pollUntil(() => daemon!.logs.some((r) => r.msg === 'started' && r.service === 'other'), 10_000);
    const before = await web();
    const other = await requestJson(socket, 'GET', '/v1/processes/other');
    expect((await requestJson(socket, 'POST', '/v1/processes/web/restart', {})).status).toBe(200);
    const restarted = await web();
    expect(restarted.restarts).toBe(1);

    writeConfig('two', ['env: { MODE: fast }', 'restart: { policy: always }']);
    const reload = await requestJson(socket, 'POST', '/v1/config/reload');
    expect(reload).toEqual({ status: 200, body: { added: [], changed: [{ name: 'web', fields: ['command', 'env.MODE', 'restart.policy'] }], removed: [], unchanged: ['other'] } });

    const after = await web();
    expect(after.id).toBe(before.id);
    expect(after.restarts).toBe(2);
    expect(after.pid).not.toBe(restarted.pid);
    expect(isRunning(restarted.pid as number)).toBe(false);
    expect((await requestJson(socket, 'GET', `/v1/processes/${before.id as string}`)).status).toBe(200);
    // The instance the reload stopped is in the history, under its old definition's stop.
    expect(after.exit).toMatchObject({ pid: restarted.pid, reason: 'stopped' });
    // Untouched: the same instance.
    expect((await requestJson(socket, 'GET', '/v1/processes/other')).body.pid).toBe(other.body.pid);
    // Every instance's output, in order: the two before the reload and the one after.
    let logs = '';
    for (let attempt = 0; attempt < 200 && !logs.includes('two\n'); attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      logs = (await requestText(socket, 'GET', '/v1/processes/web/logs?format=text')).text;
    }
    expect(logs).toBe('one\none\ntwo\n');

    const events = await eventsUntil((list) => list.some((e) => e.type === 'reloaded'));
    const reloaded = events.find((e) => e.type === 'reloaded')!;
    expect(reloaded).toMatchObject({ service: { id: before.id, name: 'web' }, changed: ['command', 'env.MODE', 'restart.policy'] });
    expect(events.filter((e) => e.type === 'created').length).toBe(2); // web and other, once each
    expect(events.some((e) => e.type === 'removed')).toBe(false);
  }, 90_000);

  it('refuses a broken file whole, naming line, field and allowed values; check finds the same; SIGHUP and the CLI report alike', async () => {
    writeConfig('one');
    daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state'), '--config', configFile]);
    await daemon.waitForLog((r) => r.msg === 'config applied', 20_000);
    const before = await web();

    // Line 6 is the first extra line of the entry.
    writeConfig('two', ['restart: { policy: sometimes }', 'user: no-such-user-here']);
    const refused = await requestJson(socket, 'POST', '/v1/config/reload');
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ code: 'PIDVISOR_ERR_CONFIG_INVALID', file: configFile });
    expect(refused.body.problems).toEqual([
      {
        path: 'services.web.restart.policy',
        line: 6,
        column: 16,
        message: 'must be one of "no", "on-failure", "always" (got "sometimes")',
        allowed: ['no', 'on-failure', 'always'],
      },
    ]);
    expect(await web()).toMatchObject({ id: before.id, pid: before.pid, restarts: 0 });

    // The schema is right now; what is left is this host's: the user.
    writeConfig('two', ['restart: { policy: always }', 'user: no-such-user-here']);
    const cliRefused = await cli('reload');
    expect(cliRefused.code).toBe(1);
    expect(cliRefused.stderr).toContain(`${configFile}:7:5: services.web.user: no user "no-such-user-here" in /etc/passwd`);
    const checked = await cli('check', '--config', configFile);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toContain(`${configFile}:7:5: services.web.user: no user "no-such-user-here" in /etc/passwd`);
    // The API's refusals were logged too: wait for one more, SIGHUP's.
    const refusals = (): number => daemon!.logs.filter((r) => r.msg === 'config refused; the running services are unchanged').length;
    const refusedBefore = refusals();
    daemon.process.kill('SIGHUP');
    await pollUntil(() => refusals() === refusedBefore + 1, 10_000);
    expect(await web()).toMatchObject({ id: before.id, pid: before.pid });

    writeConfig('two', ['restart: { policy: always }']);
    expect(await cli('check', '--config', configFile)).toMatchObject({ code: 0, stdout: `${configFile}: ok, 2 services: web, other\n` });
    daemon.process.kill('SIGHUP');
    const applied = await daemon.waitForLog((r) => r.msg === 'config applied' && JSON.stringify(r.changes).includes('restart.policy'), 10_000);
    expect(applied.changes).toEqual({ added: [], changed: [{ name: 'web', fields: ['command', 'restart.policy'] }], removed: [], unchanged: ['other'] });
    expect(await web()).toMatchObject({ id: before.id, restarts: 1 });

    const same = await cli('reload');
    expect(same).toMatchObject({ code: 0, stdout: 'config applied: 0 added, 0 changed, 0 removed, 2 unchanged\n  unchanged web, other\n' });
  }, 90_000);

  it('reloads the services of init through its API (its SIGHUP belongs to the main command)', async () => {
    writeConfig('one');
    const init = spawnWithLibuv(process.execPath, [PIDVISOR_BIN, 'init', '--config', configFile, '--socket', socket, '--state-dir', path.join(dir, 'state'), '--', 'sleep', '1000'], {
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => init.once('exit', resolve));
    try {
      await pollUntil(() => fs.existsSync(socket), 20_000);
      for (let attempt = 0; attempt < 200 && (await requestJson(socket, 'GET', '/v1/processes/web').catch(() => ({ status: 0 }))).status !== 200; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const before = await web();
      writeConfig('two');
      expect(await cli('reload')).toMatchObject({ code: 0, stdout: 'config applied: 0 added, 1 changed, 0 removed, 1 unchanged\n  changed   web (command)\n  unchanged other\n' });
      expect(await web()).toMatchObject({ id: before.id, restarts: 1 });
    } finally {
      init.kill('SIGTERM');
      await exited;
    }
  }, 90_000);

  it('answers NO_CONFIG when the daemon has no config file', async () => {
    daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state')]);
    await daemon.waitForLog((r) => r.msg === 'api listening', 20_000);
    const answer = await requestJson(socket, 'POST', '/v1/config/reload');
    expect(answer).toMatchObject({ status: 409, body: { code: 'PIDVISOR_ERR_NO_CONFIG' } });
  }, 60_000);
});
