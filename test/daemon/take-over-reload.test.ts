// A config reload's new spec survives a crash of the Node daemon: under pidvisor-keeper, the
// config is reloaded with a changed entry for a running service and for a stopped one, the
// Node daemon is SIGKILLed, and the daemon the keeper starts next must take both over with the
// NEW spec. The next daemon applies its config file again at start; had the journal kept the
// old spec, that would find the entries changed and restart the running service (a new pid),
// which is what this test catches, besides reading the spec itself.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { request, startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { isRunning } from '../helpers/proc.js';
import { killLeftInstances } from '../helpers/instances.js';
import { takeOverSkipReason } from '../helpers/take-over.js';

const reason = takeOverSkipReason();

let dir = '';
let daemon: DaemonProcess | null = null;
const seen: Array<{ pid: number; instance: string }> = [];

afterEach(async () => {
  await daemon?.stop('SIGTERM');
  daemon = null;
  killLeftInstances(seen.splice(0));
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

interface Inspection {
  process: { id: string; state: string; pid: number | null; instance: string | null; restarts: number };
  spec: { command: string[] };
}

/** `web` runs; `idle` is never started (autostart off), so a reload gives it no state change. */
function writeConfig(file: string, version: string): void {
  fs.writeFileSync(
    file,
    [
      'services:',
      '  web:',
      `    command: [sh, -c, "exec sleep 1000 # ${version}"]`,
      '    startGraceMs: 0',
      '    stdout: "null"',
      '  idle:',
      `    command: [sh, -c, "exec sleep 1000 # ${version}"]`,
      '    autostart: false',
      '',
    ].join('\n'),
  );
}

describe.skipIf(reason !== null)(`a config reload across a daemon crash${reason === null ? '' : ` (skipped: ${reason})`}`, () => {
  it('takes over the spec the reload gave, and does not restart the service to apply it again', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-takeover-reload-'));
    const socket = path.join(dir, 'api.sock');
    const config = path.join(dir, 'pidvisor.yaml');
    writeConfig(config, 'one');
    daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state'), '--config', config]);
    const inspect = async (name: string): Promise<Inspection> => {
      const { status, body } = await request<Inspection>(socket, 'GET', `/v1/processes/${name}/inspect`);
      expect(status, JSON.stringify(body)).toBe(200);
      const { pid, instance } = body.process;
      if (pid !== null && instance !== null) seen.push({ pid, instance });
      return body;
    };
    await daemon.waitForLog((r) => r.msg === 'config applied', 30_000);
    await daemon.waitForLog((r) => r.msg === 'started' && r.service === 'web', 10_000);
    const firstNode = daemon.supervisorPid();
    expect(firstNode).toBeGreaterThan(0);

    writeConfig(config, 'two');
    const reload = await request<Record<string, unknown>>(socket, 'POST', '/v1/config/reload');
    expect(reload).toMatchObject({ status: 200, body: { changed: [{ name: 'web', fields: ['command'] }, { name: 'idle', fields: ['command'] }] } });
    // The reload restarted web under its new spec; idle stays stopped.
    const reloaded = await inspect('web');
    expect(reloaded).toMatchObject({ process: { state: 'running', restarts: 1 }, spec: { command: ['sh', '-c', 'exec sleep 1000 # two'] } });
    const web = reloaded.process;
    expect((await inspect('idle')).spec.command).toEqual(['sh', '-c', 'exec sleep 1000 # two']);

    process.kill(firstNode, 'SIGKILL');
    // The keeper starts the next daemon, which takes over and then applies the same file.
    const applied = await daemon.waitForLog((r) => r.msg === 'config applied' && r.daemonPid !== firstNode, 60_000);
    expect(applied.changes, 'the journal held the old spec: the file looked changed to the next daemon').toEqual({ added: [], changed: [], removed: [], unchanged: ['web', 'idle'] });
    expect(await inspect('web')).toMatchObject({
      process: { id: web.id, state: 'running', pid: web.pid, instance: web.instance, restarts: 1 },
      spec: { command: ['sh', '-c', 'exec sleep 1000 # two'] },
    });
    expect(isRunning(web.pid!)).toBe(true);
    expect(await inspect('idle')).toMatchObject({ process: { state: 'stopped' }, spec: { command: ['sh', '-c', 'exec sleep 1000 # two'] } });
  }, 120_000);
});
