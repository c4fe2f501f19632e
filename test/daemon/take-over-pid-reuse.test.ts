// Pid reuse while no daemon runs (DESIGN.md §4, §7), forced rather than waited for: inside a
// fresh PID namespace, test/fixtures/takeover-pid-reuse.mjs lets a daemon launch A (pid P),
// SIGKILLs the daemon, kills and reaps A, gives P to an unrelated process B through
// ns_last_pid, and starts a new daemon on the same state dir. The recorded pidfs handle of A
// opens nothing (ESTALE): A is recorded as ended while no daemon ran, and nothing the new
// daemon does reaches B. A negative control kills P by number and must hit B, which shows the
// setup really reuses the pid and the test can fail.
import childProcess from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeOverSkipReason } from '../helpers/take-over.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = path.join(root, 'test/fixtures/takeover-pid-reuse.mjs');
const FIXTURE_TIMEOUT_MS = 60_000;

function skipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (ns_last_pid is writable only with CAP_SYS_ADMIN)';
  const takeOver = takeOverSkipReason();
  if (takeOver !== null) return takeOver;
  const probe = childProcess.spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { timeout: 10_000 });
  if (probe.status !== 0) return `unshare --pid --fork --mount-proc fails here: ${probe.error?.message ?? probe.stderr.toString().trim()}`;
  return null;
}
const reason = skipReason();

interface Reply {
  status: number;
  body: { code?: string; state?: string; pid?: number | null; instance?: string | null; exit?: Record<string, unknown> | null };
}
interface Report {
  nsPid: number;
  error?: string;
  steps: {
    launched: { pid: number; instance: string };
    aInstanceWhenKilled: string;
    exitA: { signal: string | null };
    pidB: number;
    instanceB: string;
    afterTakeOver: NonNullable<Reply['body']>;
    signal: Reply;
    signalWithInstance: Reply;
    stop: Reply;
    remove: Reply;
    secondExit: { code: number | null; signal: string | null };
    /** Whether the subtree still exists after the clean stop; null without cgroup v2. */
    cgroupRootAfterStop: boolean | null;
    bAfterSecondDaemon: { exitCode: number | null; signalCode: string | null; state: string | null; marks: string[] };
    bExitAfterKillByNumber: { code: number | null; signal: string | null };
    marksAfterKill: string[];
  };
}

function runFixture(workdir: string): Promise<Report> {
  return new Promise((resolve, reject) => {
    childProcess.execFile(
      'unshare',
      ['--pid', '--fork', '--mount-proc', process.execPath, fixture, root, workdir, `pidvisor-test-reuse-${process.pid}`],
      { timeout: FIXTURE_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        try {
          resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as Report);
        } catch {
          reject(new Error(`fixture gave no report (${error?.message ?? 'exit 0'}):\nstdout: ${stdout}\nstderr: ${stderr}`));
        }
      },
    );
  });
}

describe.skipIf(reason !== null)(`take-over with the pid reused while no daemon ran${reason === null ? '' : ` (skipped: ${reason})`}`, () => {
  let workdir: string;
  let report: Report;

  beforeAll(async () => {
    workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-takeover-reuse-'));
    report = await runFixture(workdir);
  }, FIXTURE_TIMEOUT_MS + 10_000);

  afterAll(() => {
    if (workdir !== undefined) fs.rmSync(workdir, { recursive: true, force: true });
  });

  it('really reuses the pid: B, a live stranger, has the pid A had', () => {
    expect(report.error, `fixture failed: ${report.error}`).toBeUndefined();
    const { steps } = report;
    expect(report.nsPid).toBe(1);
    expect(steps.aInstanceWhenKilled).toBe(steps.launched.instance);
    expect(steps.exitA.signal).toBe('SIGKILL');
    expect(steps.pidB).toBe(steps.launched.pid);
    expect(steps.instanceB).not.toBe(steps.launched.instance);
  });

  it('does not adopt the impostor: A is recorded as ended while no daemon ran', () => {
    const { steps } = report;
    expect(steps.afterTakeOver).toMatchObject({
      state: 'exited',
      pid: null,
      instance: null,
      exit: { reason: 'unobserved', pid: steps.launched.pid, instance: steps.launched.instance },
    });
  });

  it('signals nothing: signal, stop, delete and the clean stop of the new daemon leave B alone', () => {
    const { steps } = report;
    expect(steps.signal).toMatchObject({ status: 409, body: { code: 'PIDVISOR_ERR_NOT_RUNNING' } });
    expect(steps.signalWithInstance.status).toBe(409);
    expect(steps.stop.status).toBe(200);
    expect(steps.remove.status).toBe(200);
    expect(steps.secondExit).toEqual({ code: 0, signal: null });
    if (steps.cgroupRootAfterStop !== null) expect(steps.cgroupRootAfterStop, 'cgroup root left after the clean stop').toBe(false);
    expect(steps.bAfterSecondDaemon).toEqual({ exitCode: null, signalCode: null, state: expect.stringMatching(/^[RS]$/), marks: ['ready'] });
  });

  it('negative control: kill(pid) by number would have hit B', () => {
    const { steps } = report;
    expect(steps.bExitAfterKillByNumber).toEqual({ code: 143, signal: null });
    expect(steps.marksAfterKill).toEqual(['ready', 'got-term']);
  });
});
