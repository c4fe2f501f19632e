// What the daemon says about a service that cannot start, on real spawns: the message names the
// directory chdir failed on, the daemon's log says it once, retries count as restarts, and once
// the service runs the old failure is shown with its age, not as if it were current.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { SupervisorError } from '../../daemon/errors.js';
import { describeExit, processDetails, processTable } from '../../api/cli/format.js';
import { pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
let t: TestSupervisor;
let daemonLog: string[] = [];
let workDir: string;

beforeEach(() => {
  daemonLog = [];
  t = createTestSupervisor({ logger: pino({ level: 'info' }, { write: (line: string) => daemonLog.push(line) }) });
  workDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-cwd-')), 'not yet made');
});
afterEach(async () => {
  await t.close();
  fs.rmSync(path.dirname(workDir), { recursive: true, force: true });
});

const spawnFailures = (name: string) => t.events.filter((event) => event.type === 'spawn-failed' && event.service.name === name).length;

describe.skipIf(unsupported !== null)(`a service that cannot start${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('names the directory, logs the error once, counts retries as restarts and labels the old failure once it runs', async () => {
    const spec = {
      name: 'wd',
      command: ['sleep', '30'],
      cwd: workDir,
      startGraceMs: 0,
      restart: { policy: 'always', initialDelayMs: 20, multiplier: 1, jitter: 0, maxRestarts: 1000 },
    };
    // A config service stays when it cannot start, and retries.
    const launched = await t.supervisor.launch(spec, { origin: 'config' }).catch((error: unknown) => error);
    expect(launched).toBeInstanceOf(SupervisorError);
    expect((launched as SupervisorError).message).toBe(`cannot start "sleep": chdir ${JSON.stringify(workDir)}: No such file or directory (ENOENT)`);
    expect((launched as SupervisorError).details).toMatchObject({ errno: 'ENOENT', stage: 'chdir', path: workDir });

    await pollUntil(() => spawnFailures('wd') >= 3, 10_000);
    // Read together, in one turn of the event loop: every attempt after the first is a restart.
    const [failures, retrying] = [spawnFailures('wd'), t.supervisor.get('wd')];
    expect(retrying.restarts).toBe(failures - 1);
    expect(retrying.exit?.error).toMatchObject({ code: 'ENOENT', stage: 'chdir', path: workDir });
    expect(describeExit(retrying.exit)).toMatch(new RegExp(`^could not start: ENOENT at chdir ${escape(JSON.stringify(workDir))}, \\d+ms ago$`));

    // One line per failure, and its text once in it (no repeat through the error's cause, no stack).
    const lines = daemonLog.filter((line) => line.includes('"msg":"spawn failed"'));
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) {
      expect(line.split('No such file or directory').length - 1).toBe(1);
      expect(JSON.parse(line)).toMatchObject({ level: 40, service: 'wd', failure: { code: 'ENOENT', stage: 'chdir', path: workDir } });
      expect(line).not.toContain('"stack"');
    }

    // The directory appears: the next retry runs, and the failure before it shows as past.
    fs.mkdirSync(workDir);
    await pollUntil(() => t.supervisor.get('wd').state === 'running', 10_000);
    const running = t.supervisor.get('wd');
    expect(running.restarts).toBe(spawnFailures('wd'));
    const now = Date.parse(running.exit!.endedAt) + 65_000;
    const row = processTable([running], now).split('\n')[1]!;
    expect(row).toContain(`could not start: ENOENT at chdir ${JSON.stringify(workDir)}, 1m05s ago`);
    expect(processDetails(running, now)).toMatch(/^last exit +could not start: ENOENT at chdir .*, 1m05s ago$/m);
  });

  it('says how long ago an ordinary exit was', async () => {
    await t.supervisor.launch({ name: 'once', command: ['sh', '-c', 'exit 3'], startGraceMs: 0, restart: { policy: 'no' } });
    const exit = (await t.supervisor.wait('once'))!;
    expect(describeExit(exit, Date.parse(exit.endedAt) + 2_000)).toBe('code 3, exited 2s ago');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
