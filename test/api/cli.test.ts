// The `pidvisor` CLI end to end, against a real daemon on a temporary socket.
import { execFile, spawn as spawnWithLibuv } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { PIDVISOR_BIN, startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { pollUntil } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
let dir = '';
let socket = '';
let daemon: DaemonProcess;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PIDVISOR_BIN, ...args], { env: { ...process.env, PIDVISOR_SOCKET: socket }, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-cli-'));
  socket = path.join(dir, 'run', 'pidvisor.sock');
  daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state'), '--cgroup-name', `pidvisor-test-cli-${process.pid}`]);
  await pollUntil(() => fs.existsSync(socket), 10_000);
});

afterAll(async () => {
  expect(await daemon.stop('SIGTERM')).toBe(0);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(unsupported !== null)(`pidvisor CLI${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('runs, lists, shows, signals and removes a process', async () => {
    const run = await cli('run', '--name', 'web', '--label', 'tier=front', '--', 'sleep', '1000');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^[0-9a-f]{12} web (starting|running) pid \d+\n$/);

    const ps = await cli('ps');
    expect(ps.code).toBe(0);
    expect(ps.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATE\s+READY\s+HEALTH\s+PID\s+CPU%\s+MEM\s+RESTARTS\s+UPTIME\s+LAST EXIT\s+STATUS\s+COMMAND$/);
    // CPU% and MEM of a running sleep: a figure (or '-' while it is too young for a CPU %).
    expect(ps.stdout).toMatch(/web\s+(starting\s+no|running\s+yes)\s+-\s+\d+\s+(\d+\.\d|-)\s+\d+(\.\d)?[KMG]\s+0\s+\S+\s+-\s+-\s+sleep 1000/);

    const status = JSON.parse((await cli('status', 'web', '--json')).stdout) as { pid: number; instance: string; labels: Record<string, string> };
    expect(status.labels).toEqual({ tier: 'front' });
    const wrongInstance = await cli('signal', 'web', 'TERM', '--instance', `${status.pid}.0`);
    expect(wrongInstance.code).toBe(1);
    expect(wrongInstance.stderr).toMatch(/PIDVISOR_ERR_INSTANCE_MISMATCH/);
    expect(fs.existsSync(`/proc/${status.pid}`)).toBe(true);

    expect(await cli('signal', 'web', 'HUP', '--instance', status.instance)).toMatchObject({ code: 0, stdout: 'sent HUP to web\n' });
    const removed = await cli('rm', 'web');
    expect(removed).toMatchObject({ code: 0, stdout: 'web: removed\n' });
    expect((await cli('status', 'web')).code).toBe(1);
  });

  it('waits and exits with the process status; stop, start and restart report the state', async () => {
    await cli('run', '--name', 'job', '--restart', 'no', '--', 'sh', '-c', 'echo out; echo err >&2; sleep 0.3; exit 7');
    expect((await cli('wait', 'job')).code).toBe(7);
    const logs = await cli('logs', 'job');
    expect(logs).toMatchObject({ code: 0, stdout: 'out\n', stderr: 'err\n' });
    expect((await cli('logs', 'job', '--json', '--stream', 'stdout')).stdout).toMatch(/"stream":"stdout"/);
    expect(await cli('run', '--name', 'waited', '--restart', 'no', '--wait', '--', 'sh', '-c', 'kill -TERM $$')).toMatchObject({ code: 143 });

    await cli('run', '--name', 'svc', '--', 'sleep', '1000');
    expect(await cli('stop', 'svc', '--timeout', '2000')).toMatchObject({ code: 0, stdout: 'svc: stopped\n' });
    expect((await cli('start', 'svc')).stdout).toMatch(/^svc: (starting|running)\n$/);
    expect((await cli('start', 'svc')).stderr).toMatch(/PIDVISOR_ERR_ALREADY_RUNNING/);
    expect((await cli('restart', 'svc')).stdout).toMatch(/^svc: (starting|running)\n$/);
    for (const name of ['job', 'waited', 'svc']) expect((await cli('rm', name)).code).toBe(0);
  });

  it('run --wait --rm exits with the status of the command and leaves no process behind; --rm needs --wait', async () => {
    expect(await cli('run', '--name', 'once', '--restart', 'no', '--wait', '--rm', '--', 'sh', '-c', 'exit 7')).toMatchObject({ code: 7, stdout: '', stderr: '' });
    const json = await cli('run', '--name', 'once', '--restart', 'no', '--wait', '--rm', '--json', '--', 'sh', '-c', 'kill -TERM $$');
    expect(json.code).toBe(143);
    expect(JSON.parse(json.stdout)).toMatchObject({ code: null, signal: 'SIGTERM' });
    expect(JSON.parse((await cli('ps', '--json')).stdout).filter((p: { name: string }) => p.name === 'once')).toEqual([]);
    const usage = await cli('run', '--rm', '--', 'true');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--rm needs --wait/);
  });

  it('rm --label removes every process with the labels; --all every process; bad combinations are usage errors', async () => {
    await cli('run', '--name', 'l1', '--label', 'set=a', '--', 'sleep', '1000');
    await cli('run', '--name', 'l2', '--label', 'set=a', '--', 'sleep', '1000');
    await cli('run', '--name', 'l3', '--label', 'set=b', '--', 'sleep', '1000');
    const pids = JSON.parse((await cli('ps', '--json')).stdout).map((p: { name: string; pid: number }) => [p.name, p.pid]) as Array<[string, number]>;
    const pid = (name: string) => pids.find(([n]) => n === name)![1];
    expect((await cli('rm', 'l1', '--label', 'set=a')).code).toBe(2);
    expect((await cli('rm', '--all', '--label', 'set=a')).code).toBe(2);
    expect((await cli('rm', '--label', 'set')).code).toBe(2);
    const removed = await cli('rm', '--label', 'set=a');
    expect(removed.code).toBe(0);
    expect(removed.stdout.split('\n').filter(Boolean).sort()).toEqual(['l1: removed', 'l2: removed']);
    expect(fs.existsSync(`/proc/${pid('l1')}`) || fs.existsSync(`/proc/${pid('l2')}`)).toBe(false);
    expect(fs.existsSync(`/proc/${pid('l3')}`)).toBe(true);
    expect(await cli('rm', '--label', 'set=a')).toMatchObject({ code: 0, stdout: 'nothing matched\n' });
    expect(await cli('rm', '--all')).toMatchObject({ code: 0, stdout: 'l3: removed\n' });
    expect(JSON.parse((await cli('ps', '--json')).stdout)).toEqual([]);
  });

  it('follows logs and events as they happen', async () => {
    const env = { ...process.env, PIDVISOR_SOCKET: socket };
    const events = spawnWithLibuv(process.execPath, [PIDVISOR_BIN, 'events', '--after', '0'], { env });
    let eventText = '';
    events.stdout.on('data', (chunk: Buffer) => (eventText += chunk.toString()));
    try {
      await cli('run', '--name', 'ticker', '--', 'sh', '-c', 'for i in 1 2 3; do echo tick $i; sleep 0.1; done; sleep 1000');
      const follow = spawnWithLibuv(process.execPath, [PIDVISOR_BIN, 'logs', '-f', 'ticker'], { env });
      let followed = '';
      follow.stdout.on('data', (chunk: Buffer) => (followed += chunk.toString()));
      const ended = new Promise((resolve) => follow.once('exit', resolve));
      await pollUntil(() => followed.includes('tick 3'), 10_000);
      expect(followed).toBe('tick 1\ntick 2\ntick 3\n');
      await pollUntil(() => /state ticker stopped -> (starting|running)/.test(eventText), 10_000);
      await cli('rm', 'ticker');
      await ended; // the stream ends with the process
      await pollUntil(() => /removed ticker/.test(eventText), 10_000);
    } finally {
      events.kill('SIGTERM');
    }
  });

  it('never writes environment values to the daemon log or the audit log', async () => {
    const secret = `hunter2-${process.pid}`;
    expect((await cli('run', '--name', 'secretive', '--env', `TOKEN=${secret}`, '--restart', 'no', '--', 'sh', '-c', 'exit 0')).code).toBe(0);
    await cli('wait', 'secretive');
    await cli('rm', 'secretive');
    const audit = fs.readFileSync(path.join(dir, 'state', 'audit.log'), 'utf8');
    expect(audit).toMatch(/secretive/); // the launch was audited...
    expect(audit).not.toContain(secret); // ...without its environment
    expect(JSON.stringify(daemon.logs)).not.toContain(secret);
  });

  it('gives clear errors and meaningful exit codes', async () => {
    expect(await cli('status', 'nope')).toMatchObject({ code: 1, stderr: 'pidvisor status: no service "nope" (PIDVISOR_ERR_NOT_FOUND)\n' });
    const missing = await cli('run', '--', '/nonexistent/command');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/ENOENT.*PIDVISOR_ERR_SPAWN_FAILED/);
    expect((await cli('bogus')).code).toBe(2);
    expect((await cli('run')).code).toBe(2);
    expect((await cli('stop', 'a', '--timeout', 'soon')).code).toBe(2);
    expect((await cli('ps', '--socket', path.join(dir, 'absent.sock'))).code).toBe(3);
  });

  it('answers --help for every command', async () => {
    const commands = ['daemon', 'init', 'run', 'ps', 'status', 'start', 'stop', 'restart', 'rm', 'signal', 'wait', 'logs', 'events'];
    const top = await cli('--help');
    for (const command of commands) {
      expect(top.stdout).toContain(`  ${command} `);
      const help = await cli(command, '--help');
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: pidvisor ${command}`));
    }
  }, 60_000);
});
