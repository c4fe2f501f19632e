// Pid reuse, forced rather than waited for (DESIGN.md §4). Inside a fresh PID namespace the
// fixture test/fixtures/reuse-pid-namespace.mjs kills and reaps a pidvisor child A (pid P),
// sets ns_last_pid to P-1 so that an unrelated child_process child B gets pid P, and then
// tries A's old handle and A's old instance against it. A negative control kills P by number
// and must hit B, which shows the setup really reuses the pid and the test can fail.
//
// The fixture imports the compiled layer from dist/native (built by test/global-setup.ts):
// this process cannot itself enter a new PID namespace, and no TS loader exists outside vitest.
import childProcess from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = path.join(root, 'test/fixtures/reuse-pid-namespace.mjs');
const distNative = path.join(root, 'dist/native');
const FIXTURE_TIMEOUT_MS = 20_000;

function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const candidate = path.join(dir || '.', name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

const unshare = findOnPath('unshare');

function skipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (ns_last_pid is writable only with CAP_SYS_ADMIN)';
  if (unshare === null) return 'unshare (util-linux) is not on PATH';
  const pidfd = pidfdUnsupportedReason();
  if (pidfd !== null) return pidfd;
  const probe = childProcess.spawnSync(unshare, ['--pid', '--fork', '--mount-proc', 'true'], { timeout: 10_000 });
  if (probe.status !== 0) {
    return `unshare --pid --fork --mount-proc fails here: ${probe.error?.message ?? probe.stderr.toString().trim()}`;
  }
  return null;
}

const reason = skipReason();
if (reason !== null) console.warn(`pid-reuse tests skipped: ${reason}`);

interface DescribedError {
  name: string;
  code: string | null;
  message: string;
  pid: number | null;
  isProcessExitedError: boolean;
  isProcessIdentityError: boolean;
}
type Attempt<T = unknown> = { threw: false; value: T } | { threw: true; error: DescribedError };
interface BState {
  exitCode: number | null;
  signalCode: string | null;
  state: string | null;
  marks: string[];
}
interface Report {
  nsPid: number;
  pidfdUnsupportedReason: string | null;
  attempts: Array<{ pidA: number; pidB: number; pidStillThereAfterReap: unknown }>;
  error?: string;
  steps: {
    pid: number;
    instanceA: string;
    exitA: { code: number | null; signal: string | null };
    pidfdAAfterReap: number;
    pidB: number;
    startTimeA: string | null;
    startTimeB: string | null;
    bParentIsUs: boolean;
    signalTerm: Attempt;
    signalKill: Attempt;
    signalZero: Attempt;
    bAfterRefusal: BState;
    adoptOld: Attempt;
    instanceB: string | null;
    adoptNew: Attempt<{ pid: number; instance: string; pidfdOpen: boolean }>;
    bAfterAdopt: BState;
    killByNumber: Attempt;
    bExitAfterKill: { code: number | null; signal: string | null };
    marksAfterKill: string[];
  };
}

function runFixture(workdir: string): Promise<Report> {
  return new Promise((resolve, reject) => {
    childProcess.execFile(
      unshare as string,
      ['--pid', '--fork', '--mount-proc', process.execPath, fixture, distNative, workdir],
      { timeout: FIXTURE_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop() ?? '';
        try {
          resolve(JSON.parse(line) as Report);
        } catch {
          reject(new Error(`fixture gave no report (${error?.message ?? 'exit 0'}):\nstdout: ${stdout}\nstderr: ${stderr}`));
        }
      },
    );
  });
}

function expectExitedError(attempt: Attempt, pid: number): void {
  expect(attempt.threw, `signal through the old handle was not refused: ${JSON.stringify(attempt)}`).toBe(true);
  if (!attempt.threw) return;
  expect(attempt.error).toMatchObject({ name: 'ProcessExitedError', code: 'ERR_PROCESS_EXITED', pid, isProcessExitedError: true });
}

describe.skipIf(reason !== null)(`pid reuse in a fresh PID namespace${reason === null ? '' : ` (skipped: ${reason})`}`, () => {
  let workdir: string;
  let report: Report;

  beforeAll(async () => {
    workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-reuse-'));
    report = await runFixture(workdir);
  }, 150_000);

  afterAll(() => {
    if (workdir !== undefined) fs.rmSync(workdir, { recursive: true, force: true });
  });

  it('really reuses the pid: the fixture is PID 1 of its namespace and B got the pid A had', () => {
    // The steps below are reported as far as the fixture got; an error names where it stopped.
    expect(report.error, `fixture failed: ${report.error}`).toBeUndefined();
    expect(report.nsPid).toBe(1);
    expect(report.pidfdUnsupportedReason).toBeNull();
    const { steps } = report;
    expect(steps.exitA).toMatchObject({ code: null, signal: 'SIGTERM' }); // A was killed through its pidfd
    expect(steps.pidfdAAfterReap).toBe(-1);
    expect(steps.pidB).toBe(steps.pid);
    expect(steps.bParentIsUs).toBe(true); // B is a live process with pid P, a child_process child
    expect(steps.instanceB).toMatch(new RegExp(`^${steps.pid}\\.`)); // read through a new pidfd on P
    expect(steps.instanceB).not.toBe(steps.instanceA);
    expect(report.attempts.length).toBeGreaterThanOrEqual(1);
    expect(report.attempts.at(-1)?.pidStillThereAfterReap).toBeNull(); // P was free before B
  });

  it('refuses to signal through the old handle (ProcessExitedError) and sends nothing', () => {
    const { steps } = report;
    expectExitedError(steps.signalTerm, steps.pid);
    expectExitedError(steps.signalKill, steps.pid);
    expectExitedError(steps.signalZero, steps.pid);
  });

  it('leaves the new process with the reused pid untouched: alive, no SIGTERM recorded', () => {
    const { steps } = report;
    // B logs "got-term" and exits 143 on SIGTERM; SIGKILL would have ended it.
    expect(steps.bAfterRefusal).toEqual({ exitCode: null, signalCode: null, state: expect.stringMatching(/^[RS]$/), marks: ['ready'] });
    expect(steps.bAfterAdopt).toEqual({ exitCode: null, signalCode: null, state: expect.stringMatching(/^[RS]$/), marks: ['ready'] });
  });

  it('adopt(pid, oldInstance) throws ProcessIdentityError; adopt(pid, newInstance) takes B', () => {
    const { steps } = report;
    expect(steps.adoptOld.threw).toBe(true);
    if (steps.adoptOld.threw) {
      expect(steps.adoptOld.error).toMatchObject({ name: 'ProcessIdentityError', code: 'ERR_PROCESS_IDENTITY', isProcessIdentityError: true });
      expect(steps.adoptOld.error.message).toContain(steps.instanceA);
      expect(steps.adoptOld.error.message).toContain(String(steps.instanceB));
    }
    expect(steps.adoptNew).toEqual({
      threw: false,
      value: { pid: steps.pid, instance: steps.instanceB, pidfdOpen: true },
    });
  });

  it('negative control: kill(pid) by number would have hit the new process', () => {
    const { steps } = report;
    expect(steps.killByNumber).toEqual({ threw: false, value: true });
    expect(steps.bExitAfterKill).toEqual({ code: 143, signal: null });
    expect(steps.marksAfterKill).toEqual(['ready', 'got-term']);
  });

  it('reports whether the start time alone would have told A and B apart (informational)', () => {
    const { steps } = report;
    // DESIGN.md §4: start times collide on immediate reuse in most trials; the pidfs inode never does.
    console.info(`pid ${steps.pid}: start time A=${steps.startTimeA} B=${steps.startTimeB}; instance A=${steps.instanceA} B=${steps.instanceB}`);
    expect(steps.startTimeB).not.toBeNull();
  });

  // A watch of a process we did not spawn keeps its pid recorded until it notices the process
  // was reaped by its parent (a retry timer, backing off to 1 s). The pid may name an orphan of
  // ours by then: the record names the watched process by its pidfs inode, so the orphan
  // reaper still takes the newcomer (it was blocked by the stale record before).
  it("reaps an orphan that got the pid of a process another process's watch still holds", async () => {
    const report = await new Promise<Record<string, unknown>>((resolve, reject) => {
      childProcess.execFile(
        unshare as string,
        ['--pid', '--fork', '--mount-proc', process.execPath, path.join(root, 'test/fixtures/stale-watch-namespace.mjs'), distNative],
        { timeout: FIXTURE_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 20 },
        (error, stdout, stderr) => {
          try {
            resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>);
          } catch {
            reject(new Error(`fixture gave no report (${error?.message ?? 'exit 0'}):\nstdout: ${stdout}\nstderr: ${stderr}`));
          }
        },
      );
    });
    expect(report.reused, JSON.stringify(report)).toBe(true);
    expect(report.reaped).toEqual([report.s, report.q]);
    // The watch itself still learns its process's end, as a non-parent.
    expect(report.watchExit).toMatchObject({ signal: 'SIGKILL', rusage: null });
  });
});
