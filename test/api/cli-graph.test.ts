// `pidvisor graph`, and why a process waits in `ps` and `status`, against a real daemon
// started on a config file with a chain whose migration fails; `pidvisor check` refuses a
// cycle and a missing name, pointing at the line.
import { execFile } from 'node:child_process';
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
let daemon: DaemonProcess | null = null;

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PIDVISOR_BIN, ...args], { env: { ...process.env, PIDVISOR_SOCKET: socket }, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

const CHAIN = `services:
  db:
    command: [sleep, "1000"]
    startGraceMs: 0
  migrate:
    command: [sh, -c, "exit 3"]
    restart: { policy: "no" }
    dependsOn:
      db: { condition: ready }
  web:
    command: [sleep, "1000"]
    dependsOn:
      db: { condition: ready }
      migrate: { condition: completedSuccessfully }
`;

beforeAll(async () => {
  if (unsupported !== null) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-cli-graph-'));
  socket = path.join(dir, 'run', 'pidvisor.sock');
  fs.writeFileSync(path.join(dir, 'chain.yaml'), CHAIN);
  daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state'), '--cgroup-name', `pidvisor-test-cli-graph-${process.pid}`, '--config', path.join(dir, 'chain.yaml')]);
  await pollUntil(() => fs.existsSync(socket), 10_000);
});

afterAll(async () => {
  if (daemon !== null) expect(await daemon.stop('SIGTERM')).toBe(0);
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(unsupported !== null)(`pidvisor graph${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('prints the start order, what each needs and why web is blocked; ps and status say it too', async () => {
    const blocked = async () => JSON.parse((await cli('status', 'web', '--json')).stdout).state === 'blocked';
    for (let i = 0; i < 100 && !(await blocked()); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await blocked()).toBe(true);

    const graph = await cli('graph');
    expect(graph).toMatchObject({ code: 0, stderr: '' });
    const rows = graph.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^ORDER\s+NAME\s+STATE\s+NEEDS$/);
    expect(rows[1]).toMatch(/^1\s+db\s+running\s+-$/);
    expect(rows[2]).toMatch(/^2\s+migrate\s+exited\s+db ready: met$/);
    expect(rows[3]).toMatch(/^3\s+web\s+blocked\s+db ready: met; migrate completedSuccessfully: blocked \(migrate is exited \(exited with code 3\)\)$/);
    expect(JSON.parse((await cli('graph', '--json')).stdout).startOrder).toEqual([['db'], ['migrate'], ['web']]);

    const ps = await cli('ps');
    expect(ps.stdout).toContain('\nweb blocked: blocked by migrate (completedSuccessfully): migrate is exited (exited with code 3)\n');
    const status = await cli('status', 'web');
    expect(status.stdout).toMatch(/^state\s+blocked \(blocked by migrate/m);
    expect(status.stdout).toMatch(/^needs\s+db ready: met; migrate completedSuccessfully: blocked/m);
  });

  it('check refuses a cycle and a missing name, at their lines', async () => {
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(
      file,
      `services:
  a:
    command: [sleep, "1"]
    dependsOn:
      b: { condition: started }
  b:
    command: [sleep, "1"]
    dependsOn:
      a: { condition: ready }
      ghost: { condition: ready }
`,
    );
    const check = await cli('check', '--config', file);
    expect(check.code).toBe(1);
    expect(check.stdout + check.stderr).toContain(`${file}:5:7: services.a.dependsOn.b: dependency cycle: a -> b -> a`);
    expect(check.stdout + check.stderr).toContain(`${file}:10:7: services.b.dependsOn.ghost: depends on "ghost", and there is no service of that name in this file`);
  });
});
