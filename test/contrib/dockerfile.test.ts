// contrib/docker/Dockerfile without docker (this machine has no docker daemon): what it
// copies exists, its config is valid, and its ENTRYPOINT command line, run directly with the
// image's paths mapped to this checkout, runs the services beside a main command and exits
// with the main command's status, leaving no service behind.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { PIDVISOR_BIN } from '../helpers/daemon-process.js';
import { isRunning } from '../helpers/proc.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dockerfile = fs.readFileSync(path.join(root, 'contrib/docker/Dockerfile'), 'utf8');
const unsupported = pidfdUnsupportedReason();

/** The instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Array<{ keyword: string; args: string }> {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.trim().split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
    });
}

const execForm = (keyword: string): string[] => JSON.parse(instructions(dockerfile).find((i) => i.keyword === keyword)!.args) as string[];

let dir = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-dockerfile-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('contrib/docker/Dockerfile', () => {
  it('copies files that exist; its config passes `pidvisor check`; CMD is valid JavaScript', async () => {
    const copies = instructions(dockerfile).filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'));
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const source of sources) expect(fs.existsSync(path.join(root, source)), source).toBe(true);
    }
    const check = await new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile(process.execPath, [PIDVISOR_BIN, 'check', '--config', path.join(root, 'contrib/docker/pidvisor.yaml')], (error, stdout) => resolve({ code: error === null ? 0 : 1, stdout })),
    );
    expect(check).toMatchObject({ code: 0, stdout: expect.stringContaining('ok, 1 service: heartbeat') });
    const cmd = execForm('CMD');
    expect(cmd.slice(0, 2)).toEqual(['node', '-e']);
    expect(() => new vm.Script(cmd[2]!)).not.toThrow();
  });

  it.skipIf(unsupported !== null)(`its ENTRYPOINT runs the services beside the main command and exits with its status${unsupported === null ? '' : ` (skipped: ${unsupported})`}`, async () => {
    const entrypoint = execForm('ENTRYPOINT');
    expect(entrypoint.at(-1)).toBe('--');
    // The image's paths, in this checkout and a temporary directory.
    const mapped = entrypoint.map((word) =>
      word
        .replace('/opt/pidvisor/', `${root}/`)
        .replace('/etc/pidvisor/pidvisor.yaml', path.join(root, 'contrib/docker/pidvisor.yaml'))
        .replace('/run/pidvisor/', `${dir}/run/`)
        .replace('/var/lib/pidvisor', `${dir}/state`),
    );
    expect(fs.existsSync(mapped[0]!)).toBe(true);
    const socket = `${dir}/run/pidvisor.sock`;
    expect(mapped).toContain(socket);
    // The main command: waits (bounded) until the service runs, prints it, exits 7.
    const status = `"${process.execPath}" "${PIDVISOR_BIN}" status heartbeat --socket "${socket}" --json`;
    const main = ['sh', '-c', `for i in $(seq 1 400); do out=$(${status} 2>/dev/null) && case "$out" in *'"state": "running"'*) echo "$out"; exit 7;; esac; sleep 0.05; done; exit 1`];
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(mapped[0]!, [...mapped.slice(1), ...main], { timeout: 60_000, env: { ...process.env, PIDVISOR_NODE: process.execPath } }, (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? null), stdout, stderr }),
      );
    });
    expect(result.code, result.stderr).toBe(7);
    const heartbeat = JSON.parse(result.stdout) as { state: string; pid: number };
    expect(heartbeat.state).toBe('running');
    // Init stopped the service before exiting.
    expect(isRunning(heartbeat.pid)).toBe(false);
  });
});
