// The five supervisors of the restart bench, each set up to keep the stamp program running
// in its own directory (where the program appends its stamps) and to restart it at once:
//   pidvisor     the stock daemon (default kill mode, cgroup), one service over its unix socket,
//                restart {policy: always, initialDelayMs: 0, jitter: 0} and no restart limit
//                (its default delay is 100 ms: a policy, not a cost; every tool here runs with no delay)
//   runit        runsv DIR, DIR/run -> the program (runsv restarts at once after an instance that ran >= 1 s)
//   s6           s6-supervise DIR, the same run link (s6 waits until 1 s after the previous start)
//   supervisord  [program:stamp] autorestart=true, startsecs=1 (no delay setting exists; its loop wakes once a second)
//   pm2          one app, interpreter none, autorestart, restart_delay 0, no restart limit
//   pidvisor-base  as pidvisor, with the daemon of another build (BENCH_RESTART_BASELINE=DIR, a
//                built checkout): before/after in one run
// Every process the bench starts is kept in bench/api/children.ts' registry and stopped by pid.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPidvisor } from '../api/daemon-process.js';
import { startProcess, stopProcess, type Started } from '../api/children.js';
import { closeTarget, unixTarget } from '../api/http-client.js';
import { launch } from '../api/pidvisor-api.js';
import { processState } from '../api/proc.js';
import { entry, outDir } from './paths.js';

export const TOOLS = ['pidvisor', 'runit', 's6', 'supervisord', 'pm2'] as const;
/** Measured only when asked for (BENCH_RESTART_BASELINE). */
export const BASELINE_TOOL = 'pidvisor-base';
export type Tool = (typeof TOOLS)[number] | typeof BASELINE_TOOL;

export interface Supervised {
  tool: Tool;
  /** The program's working directory: its stamps are in `stamps` there. */
  dir: string;
  /** The supervisor's own main process (for the report). */
  supervisorPid: number;
  how: string;
  teardown(): Promise<void>;
}

export const BINARIES: Record<Exclude<Tool, 'pidvisor' | 'pm2' | typeof BASELINE_TOOL>, string> = {
  runit: '/usr/bin/runsv',
  s6: '/usr/bin/s6-supervise',
  supervisord: '/usr/bin/supervisord',
};

function serviceDir(tool: Tool, program: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pvb-restart-${tool}-`));
  fs.symlinkSync(program, path.join(dir, 'run'));
  return dir;
}

/** Writes control letters to runsv's or s6-supervise's control FIFO (both read it while they run). */
function control(dir: string, letters: string): void {
  try {
    const fd = fs.openSync(path.join(dir, 'supervise', 'control'), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    fs.writeSync(fd, letters);
    fs.closeSync(fd);
  } catch {
    // no reader (it exited): the SIGTERM fallback below
  }
}

async function stopAndClean(started: Started, dir: string): Promise<void> {
  await stopProcess(started, 10_000);
  fs.rmSync(dir, { recursive: true, force: true });
}

async function runsvLike(tool: 'runit' | 's6', program: string): Promise<Supervised> {
  const dir = serviceDir(tool, program);
  const started = startProcess(tool, BINARIES[tool], [dir], { logFile: path.join(outDir, `${tool}.log`) });
  return {
    tool,
    dir,
    supervisorPid: started.pid,
    how: tool === 'runit' ? 'runsv DIR; DIR/run is a symlink to the program' : 's6-supervise DIR; DIR/run is a symlink to the program',
    async teardown() {
      // d: take the service down (SIGTERM, SIGCONT); x: exit once it is down.
      control(dir, 'dx');
      const exited = await Promise.race([started.exited.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 10_000))]);
      if (!exited) await stopProcess(started, 5_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function supervisord(program: string): Promise<Supervised> {
  const dir = serviceDir('supervisord', program);
  const conf = path.join(dir, 'supervisord.conf');
  fs.writeFileSync(
    conf,
    [
      '[supervisord]',
      'nodaemon=true',
      'user=root',
      `logfile=${path.join(dir, 'supervisord.log')}`,
      `pidfile=${path.join(dir, 'supervisord.pid')}`,
      `childlogdir=${dir}`,
      'loglevel=warn',
      '',
      '[program:stamp]',
      `command=${program}`,
      `directory=${dir}`,
      'autostart=true',
      'autorestart=true',
      'startsecs=1',
      'startretries=1000000',
      'stdout_logfile=NONE',
      'stderr_logfile=NONE',
      '',
    ].join('\n'),
  );
  const started = startProcess('supervisord', BINARIES.supervisord, ['-n', '-c', conf], { logFile: path.join(outDir, 'supervisord.log') });
  return {
    tool: 'supervisord',
    dir,
    supervisorPid: started.pid,
    how: '[program:stamp] autostart, autorestart=true, startsecs=1 (supervisord has no restart delay setting)',
    teardown: () => stopAndClean(started, dir),
  };
}

/** `baseline`: another build's checkout, whose dist/bin/pidvisor.js is run instead of this one's. */
async function pidvisor(program: string, baseline: string | null): Promise<Supervised> {
  const tool = baseline === null ? 'pidvisor' : BASELINE_TOOL;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pvb-restart-${tool}-`));
  const daemon = await startPidvisor('stock', { tcp: false, label: baseline === null ? 'restart' : 'restart-base', ...(baseline === null ? {} : { stockBin: baselineBin(baseline) }) });
  const target = unixTarget(daemon.socketPath, 2);
  try {
    await launch(
      target,
      {
        name: 'stamp',
        command: [program],
        cwd: dir,
        stdout: 'null',
        stderr: 'null',
        restart: { policy: 'always', initialDelayMs: 0, jitter: 0, maxRestarts: 1_000_000, windowMs: 1 },
      },
      { retried: {} },
      Number.POSITIVE_INFINITY,
    );
  } finally {
    closeTarget(target);
  }
  return {
    tool,
    dir,
    supervisorPid: daemon.pid,
    how: `${baseline === null ? 'stock daemon' : `stock daemon of ${baseline}`}, default kill mode; POST /v1/processes {restart: {policy: always, initialDelayMs: 0, jitter: 0, maxRestarts: 1e6, windowMs: 1}}`,
    async teardown() {
      await daemon.stop(30_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function pm2(program: string): Promise<Supervised> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvb-restart-pm2-'));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'pvb-restart-pm2home-'));
  fs.writeFileSync(path.join(home, 'touch'), String(Date.now())); // no first-run banner
  const env = { ...process.env, PM2_HOME: home, PM2_DISABLE_VERSION_CHECK: 'true', PM2_DISCRETE_MODE: 'true' };
  const runDriver = async (args: string[]): Promise<void> => {
    const driver = startProcess('pm2 driver', process.execPath, [entry.pm2Driver, ...args], { env, logFile: path.join(outDir, 'pm2-driver.log') });
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([driver.exited, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 60_000)))]);
    clearTimeout(timer);
    if (outcome === null) {
      await stopProcess(driver, 1000, 'SIGKILL');
      throw new Error(`pm2 driver ${args[0]} did not finish in 60 s`);
    }
    if (outcome.code !== 0) throw new Error(`pm2 driver ${args[0]} failed (code ${outcome.code}); see ${path.join(outDir, 'pm2-driver.log')}`);
  };
  await runDriver(['start', program, dir]);
  const godPid = Number(fs.readFileSync(path.join(home, 'pm2.pid'), 'utf8').trim());
  return {
    tool: 'pm2',
    dir,
    supervisorPid: godPid,
    how: 'pm2.start({script: program, interpreter: none, autorestart, restart_delay: 0, max_restarts: 1e6})',
    async teardown() {
      try {
        await runDriver(['kill']);
      } catch {
        // below
      }
      // God was started detached by PM2 for us: if killDaemon failed, SIGKILL it by the pid it wrote (checked to be ours).
      if (processState(godPid) === 'alive' && fs.readFileSync(`/proc/${godPid}/environ`, 'utf8').includes(`PM2_HOME=${home}`)) process.kill(godPid, 'SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

/** The CLI of a built checkout (BENCH_RESTART_BASELINE). */
export function baselineBin(checkout: string): string {
  const bin = path.join(checkout, 'dist', 'bin', 'pidvisor.js');
  if (!fs.existsSync(bin)) throw new Error(`BENCH_RESTART_BASELINE: ${bin} is missing (build that checkout first)`);
  return bin;
}

export function setUp(tool: Tool, program: string, baseline: string | null): Promise<Supervised> {
  switch (tool) {
    case 'pidvisor':
      return pidvisor(program, null);
    case BASELINE_TOOL:
      if (baseline === null) throw new Error(`${BASELINE_TOOL} needs BENCH_RESTART_BASELINE`);
      return pidvisor(program, baseline);
    case 'runit':
    case 's6':
      return runsvLike(tool, program);
    case 'supervisord':
      return supervisord(program);
    case 'pm2':
      return pm2(program);
  }
}
