// init-main.json (daemon/init-main.ts): the main command's record for a Node init the keeper
// restarts is written by temp file + rename, without fsync (a crash of Node keeps the page
// cache; a crash of the machine ends the keeper, whose pidfd the file is worthless without).
// The system calls are read with strace -y, which names the file behind each fd.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PIDVISOR_BIN } from '../helpers/daemon-process.js';
import { missingTool } from '../helpers/tools.js';

const skip = missingTool('strace', 'strace');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-init-main-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe.skipIf(skip !== null)(`init-main.json${skip === null ? '' : ` (${skip})`}`, () => {
  it('is written and rewritten with the status, never synced to disk; the journal still is', () => {
    const config = path.join(scratch, 'services.yaml');
    fs.writeFileSync(config, 'services: {}\n');
    const stateDir = path.join(scratch, 'state');
    const trace = path.join(scratch, 'trace.log');
    const result = spawnSync('strace', ['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync,rename', '-o', trace, process.execPath, PIDVISOR_BIN, 'init', '--config', config, '--state-dir', stateDir, '--', '/bin/sh', '-c', 'exit 7'], {
      env: { ...process.env, PIDVISOR_KEEPER: 'off' },
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    expect(result.status, result.stderr).toBe(7);
    expect(JSON.parse(fs.readFileSync(path.join(stateDir, 'init-main.json'), 'utf8'))).toMatchObject({ status: 7 });
    const calls = fs.readFileSync(trace, 'utf8').split('\n');
    // Started, then ended: two renames of a temp file onto init-main.json.
    expect(calls.filter((line) => /rename\(".*init-main\.json\.\d+\.tmp", ".*init-main\.json"\) = 0/.test(line))).toHaveLength(2);
    expect(calls.filter((line) => /f(data)?sync\(\d+<[^>]*init-main\.json[^>]*>\)/.test(line))).toEqual([]);
    // strace saw the syncs that remain: the state journal's.
    expect(calls.some((line) => /f(data)?sync\(\d+<[^>]*state\.journal[^>]*>\)/.test(line))).toBe(true);
  });
});
