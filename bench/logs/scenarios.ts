// The ways the log-capture bench runs the same writer: straight into a file, and under each
// supervisor, which captures its stdout pipe into a log file. Each scenario is set up once,
// then runs rounds; a round's time runs from the start request (CLOCK_MONOTONIC, taken by
// whoever makes the request) to the moment every byte is in the log file.
// No rotation anywhere: PM2 has none without its pm2-logrotate module, supervisord is told
// stdout_logfile_maxbytes=0, pidvisor gets files bigger than the output.
import { spawn as spawnChild } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startProcess, stopProcess, allStdout, type Started } from '../api/children.js';
import { cpuSeconds, pollFor, processState, waitForSocket } from '../api/proc.js';
import { call, type XmlRpcValue } from '../api/xmlrpc.js';
import { entry, outDir } from './paths.js';

export interface Writer {
  /** `/bin/sh <script>`: the same argv under every scenario. */
  script: string;
  bytes: number;
  /** sha256 of the bytes it writes, from the direct file of the first round. */
  sha256: string | null;
}

export interface RoundResult {
  ms: number;
  /** Bytes of the writer's output missing from the log file (0 when all are there). */
  lostBytes: number;
  /** CPU time (user + system) the capturing process used in the round; null for the direct file. */
  captureCpuMs: number | null;
  /** What the scenario checked of its log file; null when it did not check. */
  exact: boolean | null;
  /** Reads of the captured pipe (pidvisor's LogStats.reads), when the capturer reports them. */
  reads?: number;
}

export interface Scenario {
  name: string;
  /** Why it cannot run here, or null. */
  unavailable(): string | null;
  setup(dir: string, writer: Writer): Promise<void>;
  round(round: number, verify: boolean): Promise<RoundResult>;
  teardown(): Promise<void>;
}

const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const cpuMs = (pid: number): number => cpuSeconds(pid) * 1000;
const POLL_MS = 2;
const ROUND_TIMEOUT_MS = 300_000;

// A peer may lose the end of the output (PM2 7 does: it destroys the log stream at the app's
// exit with writes still queued, "Cannot call writev after a stream was destroyed"): a file
// that stops growing short of `bytes` for QUIET_MS ends the wait too.
const QUIET_MS = 3000;

/** Waits until `file` holds `bytes`, or stops growing; returns when it last grew (ms, CLOCK_MONOTONIC) and its size. */
async function whenFileSettles(file: string, bytes: number): Promise<{ at: number; size: number }> {
  let size = -1;
  let changedAt = monotonicMs();
  return pollFor(`${bytes} bytes in ${file}`, ROUND_TIMEOUT_MS, () => {
    let now = 0;
    try {
      now = fs.statSync(file).size;
    } catch {
      // not there yet
    }
    const at = monotonicMs();
    if (now !== size) {
      size = now;
      changedAt = at;
    }
    return size >= bytes || at - changedAt > QUIET_MS ? { at: changedAt, size } : null;
  }, POLL_MS);
}

/** A process's environment, or '' once it is gone (it may exit between the check and the read). */
function environOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return '';
  }
}

export function sha256File(file: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1 << 20);
  const fd = fs.openSync(file, 'r');
  try {
    for (let read; (read = fs.readSync(fd, buffer)) > 0; ) hash.update(buffer.subarray(0, read));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

function rawFileExact(file: string, writer: Writer): boolean {
  return fs.statSync(file).size === writer.bytes && (writer.sha256 === null || sha256File(file) === writer.sha256);
}

/** The writer straight into a file (sh's redirection: the child's stdout is the file). */
export function direct(): Scenario {
  let dir = '';
  let writer: Writer;
  return {
    name: 'direct file',
    unavailable: () => null,
    async setup(d, w) {
      dir = d;
      writer = w;
    },
    async round(round) {
      const file = path.join(dir, `direct-${round}.out`);
      const fd = fs.openSync(file, 'w', 0o600);
      const t0 = monotonicMs();
      const child = spawnChild('/bin/sh', [writer.script], { stdio: ['ignore', fd, 'inherit'] });
      fs.closeSync(fd);
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      const ms = monotonicMs() - t0;
      if (code !== 0) throw new Error(`direct writer exited ${code}`);
      if (writer.sha256 === null) writer.sha256 = sha256File(file);
      const exact = fs.statSync(file).size === writer.bytes;
      fs.rmSync(file);
      return { ms, exact, lostBytes: 0, captureCpuMs: null };
    },
    async teardown() {},
  };
}

const SUPERVISORD = '/usr/bin/supervisord';

/** supervisord (Debian `supervisor`), our own instance, foreground, XML-RPC on a unix socket. */
export function supervisord(): Scenario {
  let dir = '';
  let writer: Writer;
  let socketPath = '';
  let daemon: Started | null = null;
  const logFile = (): string => path.join(dir, 'supervisord-writer.log');
  const rpc = (method: string, params: ReadonlyArray<string | number | boolean> = []): Promise<XmlRpcValue> => call(socketPath, method, params, 60_000);
  return {
    name: 'supervisord',
    unavailable: () => (fs.existsSync(SUPERVISORD) ? null : `${SUPERVISORD} not found (apt-get install -y supervisor)`),
    async setup(d, w) {
      dir = d;
      writer = w;
      socketPath = path.join(dir, 'supervisor.sock');
      const conf = path.join(dir, 'supervisord.conf');
      fs.writeFileSync(
        conf,
        [
          '[unix_http_server]',
          `file=${socketPath}`,
          'chmod=0700',
          '[supervisord]',
          'nodaemon=true',
          'user=root',
          `logfile=${path.join(dir, 'supervisord.log')}`,
          `pidfile=${path.join(dir, 'supervisord.pid')}`,
          `childlogdir=${dir}`,
          'loglevel=warn',
          '[rpcinterface:supervisor]',
          'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
          '[program:writer]',
          `command=/bin/sh ${writer.script}`,
          'autostart=false',
          'autorestart=false',
          'startsecs=0',
          `stdout_logfile=${logFile()}`,
          'stdout_logfile_maxbytes=0',
          'stdout_logfile_backups=0',
          'stderr_logfile=NONE',
          '',
        ].join('\n'),
      );
      daemon = startProcess('supervisord', SUPERVISORD, ['-n', '-c', conf], { logFile: path.join(outDir, 'supervisord.log') });
      await waitForSocket(socketPath, 30_000, () => daemon!.deadReason());
    },
    async round(_round, verify) {
      fs.rmSync(logFile(), { force: true });
      const cpu0 = cpuMs(daemon!.pid);
      const t0 = monotonicMs();
      await rpc('supervisor.startProcess', ['writer', false]);
      const done = await whenFileSettles(logFile(), writer.bytes);
      const captureCpuMs = cpuMs(daemon!.pid) - cpu0;
      // The next round's start needs the writer out of RUNNING (bounded: 10,000 x 20 ms).
      for (let i = 0; i < 10_000; i++) {
        const info = (await rpc('supervisor.getProcessInfo', ['writer'])) as { statename: string };
        if (info.statename === 'EXITED' || info.statename === 'STOPPED') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return { ms: done.at - t0, exact: verify ? rawFileExact(logFile(), writer) : null, lostBytes: writer.bytes - done.size, captureCpuMs };
    },
    async teardown() {
      if (daemon === null) return;
      try {
        await rpc('supervisor.shutdown');
      } catch {
        // SIGTERM below does it
      }
      await stopProcess(daemon, 30_000);
    },
  };
}

/** PM2 (the devDependency), with its own PM2_HOME; God is started by the first driver. */
export function pm2(): Scenario {
  let dir = '';
  let home = '';
  let writer: Writer;
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, PM2_HOME: home, PM2_DISABLE_VERSION_CHECK: 'true', PM2_DISCRETE_MODE: 'true' });
  const driver = async (args: string[]): Promise<string> => {
    const started = startProcess('pm2 driver', process.execPath, [entry.pm2Driver, ...args], { env: env(), pipeStdout: true, logFile: path.join(outDir, 'pm2-driver.log') });
    const output = allStdout(started);
    const exit = await Promise.race([started.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 120_000).unref())]);
    if (exit === null) {
      await stopProcess(started, 1000, 'SIGKILL');
      throw new Error(`pm2 driver ${args[0]} did not finish in 120 s`);
    }
    if (exit.code !== 0) throw new Error(`pm2 driver ${args[0]} failed (code ${exit.code}); see ${path.join(outDir, 'pm2-driver.log')}`);
    return output;
  };
  const godPid = (): number | null => {
    try {
      return Number(fs.readFileSync(path.join(home, 'pm2.pid'), 'utf8').trim());
    } catch {
      return null;
    }
  };
  return {
    name: 'pm2',
    unavailable: () => (fs.existsSync(entry.pm2Module) ? null : `pm2 is not installed (${entry.pm2Module}); npm ci installs the devDependency`),
    async setup(d, w) {
      dir = d;
      writer = w;
      home = fs.mkdtempSync(path.join(os.tmpdir(), 'pvb-logs-pm2home-'));
      fs.writeFileSync(path.join(home, 'touch'), String(Date.now())); // no first-run banner
    },
    async round(round, verify) {
      const out = path.join(dir, `pm2-${round}.log`);
      // God is started by the first round's driver: its CPU is counted from the second round.
      const god = godPid();
      const cpu0 = god === null ? Number.NaN : cpuMs(god);
      const settled = whenFileSettles(out, writer.bytes);
      const output = await driver(['start', `writer-${round}`, out, '/bin/sh', writer.script]);
      const t0Line = output.split('\n').find((line) => line.startsWith('T0 '));
      if (t0Line === undefined) throw new Error(`pm2 driver printed no T0: ${output.slice(0, 200)}`);
      const done = await settled;
      const ms = done.at - Number(BigInt(t0Line.slice(3))) / 1e6;
      // Past the last growth when bytes were lost (QUIET_MS more); a small overcount then.
      const captureCpuMs = god === null ? null : cpuMs(god) - cpu0;
      const exact = verify ? rawFileExact(out, writer) : null;
      fs.rmSync(out, { force: true });
      return { ms, exact, lostBytes: writer.bytes - done.size, captureCpuMs };
    },
    async teardown() {
      if (home === '') return;
      const pid = godPid();
      try {
        await driver(['kill']);
      } catch {
        // below
      }
      // God was started detached by PM2 for us: if killDaemon failed, SIGKILL it by the pid it wrote (checked to be ours).
      if (pid !== null && processState(pid) === 'alive' && environOf(pid).includes(`PM2_HOME=${home}`)) process.kill(pid, 'SIGKILL');
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
