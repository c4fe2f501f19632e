// The systemd unit (contrib/systemd/pidvisor.service and `pidvisor startup systemd`) checked
// by systemd's own parser: `systemd-analyze verify` (Debian package systemd) must accept it
// without a single warning, with and without the optional sandboxing enabled.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OPTIONAL_HARDENING, systemdUnit, UNIT_DEFAULTS } from '../../api/cli/startup/systemd-unit.js';
import { PIDVISOR_BIN } from '../helpers/daemon-process.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function missingAnalyzer(): string | null {
  try {
    fs.accessSync('/usr/bin/systemd-analyze', fs.constants.X_OK);
    return null;
  } catch {
    return 'systemd-analyze is not installed (Debian package systemd)';
  }
}
const reason = missingAnalyzer();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function settle(command: string, args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

const cli = (...args: string[]): Promise<Result> => settle(process.execPath, [PIDVISOR_BIN, ...args]);

let dir = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-unit-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** systemd-analyze verify on `text` saved as NAME.service: its exit code and every line it printed. */
async function verify(text: string, name = 'pidvisor'): Promise<Result> {
  const file = path.join(dir, `${name}.service`);
  fs.writeFileSync(file, text);
  return settle('/usr/bin/systemd-analyze', ['verify', file]);
}

describe('systemd unit', () => {
  it('contrib/systemd/pidvisor.service is the unit with its defaults', () => {
    expect(fs.readFileSync(path.join(root, 'contrib/systemd/pidvisor.service'), 'utf8')).toBe(systemdUnit(UNIT_DEFAULTS));
  });

  it.skipIf(reason !== null)(`passes systemd-analyze verify, as printed and with every optional sandboxing line enabled${reason === null ? '' : ` (skipped: ${reason})`}`, async () => {
    const printed = await cli('startup', 'systemd', '--state-dir', '/var/lib/pidvisor-test', '--socket', '/run/pidvisor test/api.sock');
    expect(printed).toMatchObject({ code: 0, stderr: '' });
    const unit = `${printed.stdout.trimEnd()}\n`;
    // The unit runs this pidvisor, by real paths: what verify checks is executable.
    expect(unit).toContain(`ExecStart=${process.execPath} ${fs.realpathSync(PIDVISOR_BIN)} daemon --config /etc/pidvisor/pidvisor.yaml --cgroup-name system.slice/pidvisor.service/services`);
    expect(unit).toContain('ExecReload=');
    expect(unit).toContain('reload --socket "/run/pidvisor test/api.sock"');
    expect(await verify(unit)).toEqual({ code: 0, stdout: '', stderr: '' });
    const hardened = OPTIONAL_HARDENING.reduce((text, line) => text.replace(`#${line}\n`, `${line}\n`), unit);
    for (const line of OPTIONAL_HARDENING) expect(hardened).toContain(`\n${line}\n`);
    expect(await verify(hardened)).toEqual({ code: 0, stdout: '', stderr: '' });
    // The check is real: a misspelt setting or a missing program is reported.
    expect((await verify(unit.replace('Type=notify', 'Type=notfy'))).stderr).toMatch(/Failed to parse service type/);
    expect((await verify(unit.replace(`ExecStart=${process.execPath}`, 'ExecStart=/nonexistent/node'))).code).not.toBe(0);
  });

  it('--install writes the unit; bad arguments are usage errors', async () => {
    const installed = await cli('startup', 'systemd', '--install', '--unit-dir', dir, '--name', 'pidvisor-test');
    expect(installed.code).toBe(0);
    expect(installed.stdout).toContain(`wrote ${dir}/pidvisor-test.service`);
    expect(installed.stdout).toContain('systemctl daemon-reload && systemctl enable --now pidvisor-test.service');
    const printed = await cli('startup', 'systemd', '--name', 'pidvisor-test');
    expect(fs.readFileSync(path.join(dir, 'pidvisor-test.service'), 'utf8')).toBe(`${printed.stdout.trimEnd()}\n`);
    expect((fs.statSync(path.join(dir, 'pidvisor-test.service')).mode & 0o777).toString(8)).toBe('644');
    expect(await cli('startup', 'launchd')).toMatchObject({ code: 2, stderr: expect.stringContaining('only systemd is supported') });
    expect(await cli('startup')).toMatchObject({ code: 2 });
    expect(await cli('startup', 'systemd', '--config', 'relative.yaml')).toMatchObject({ code: 2, stderr: expect.stringContaining('absolute path') });
  });
});
