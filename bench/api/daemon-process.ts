// A pidvisor daemon for the bench, in its own process under prlimit (nofile raised), with
// its own socket, state directory, cgroup name, log file and, when asked, a loopback TCP
// listener with a fresh bearer token. Two flavours:
//   stock:       node dist/bin/pidvisor.js daemon ...   (exactly what a user runs)
//   unlimited:   node dist/bench/api/daemon-host.js ... (the same, with the rate limit off)
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { capabilities, getResourceLimit } from '../../native/index.js';
import { daemonProcesses } from '../lib/daemon-under-keeper.js';
import { startProcess, stopProcess, type Started } from './children.js';
import { entry, outDir, pidvisorBin } from './paths.js';
import { pollFor, rssBytes, waitForSocket } from './proc.js';

export type DaemonFlavour = 'stock' | 'unlimited';

export interface DaemonHandle {
  flavour: DaemonFlavour;
  /** What the bench started: pidvisor-keeper for the stock daemon (the CLI execs into it), else the daemon. */
  process: Started;
  /** The Node daemon (the keeper's child under a keeper): sample its CPU and RSS. */
  pid: number;
  /** pidvisor-keeper's pid, or null when the daemon runs without one (the unlimited flavour, PIDVISOR_KEEPER=off). */
  keeperPid: number | null;
  socketPath: string;
  tcp: { host: string; port: number; token: string } | null;
  logFile: string;
  cgroupName: string;
  nofile: number;
  /** VmRSS of the Node daemon. */
  rss(): number;
  /** VmRSS of the keeper (0 without one). */
  keeperRss(): number;
  /** SIGTERM (the daemon stops every service, then exits); SIGKILL and a cgroup sweep past `timeoutMs`. */
  stop(timeoutMs: number): Promise<{ ms: number; forced: boolean }>;
}

const START_TIMEOUT_MS = 30_000;

/**
 * The nofile limit the daemon is started with: soft and hard at the bench's hard limit (raising
 * the hard limit needs CAP_SYS_RESOURCE, which a root in a sandbox may lack). The daemon would
 * raise its soft limit to the hard one itself; prlimit makes the figure explicit.
 */
function nofileFor(): number {
  return getResourceLimit('nofile').hard ?? 1_048_576;
}

/** The daemon's environment: the bench's, with PIDVISOR_LOG_LEVEL (default info, as the CLI). */
function daemonEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PIDVISOR_LOG_LEVEL: process.env.PIDVISOR_LOG_LEVEL ?? 'info' };
}

/**
 * Extra node flags for the daemon, for diagnosis: BENCH_API_DAEMON_NODE_ARGS, split on
 * spaces, e.g. `--cpu-prof --cpu-prof-dir=DIR` (the profile is written when the daemon exits
 * on SIGTERM) or `--max-semi-space-size=1`.
 */
function daemonNodeArgs(): string[] {
  return (process.env.BENCH_API_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

/**
 * `hostArgs`: more arguments for daemon-host.ts (the unlimited flavour), e.g. `--without audit`;
 * `hostEntry`: another build's compiled daemon-host.js (bench/launch compares a baseline checkout);
 * `stockBin`: another build's dist/bin/pidvisor.js for the stock flavour (bench/restart's baseline).
 */
export async function startPidvisor(
  flavour: DaemonFlavour,
  options: { tcp: boolean; label: string; hostArgs?: readonly string[]; hostEntry?: string; stockBin?: string },
): Promise<DaemonHandle> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvb-api-'));
  const socketPath = path.join(dir, 'run', 'pidvisor.sock');
  const stateDir = path.join(dir, 'state');
  fs.mkdirSync(outDir, { recursive: true });
  const logFile = path.join(outDir, `daemon-${options.label}.log`);
  fs.writeFileSync(logFile, '');
  const cgroupName = `${cgroupPrefix()}${options.label}`;
  let token: string | null = null;
  const args: string[] = [];
  if (flavour === 'stock' && (options.hostEntry !== undefined || (options.hostArgs?.length ?? 0) > 0)) throw new Error('hostArgs and hostEntry are for the unlimited daemon (daemon-host.ts)');
  if (flavour !== 'stock' && options.stockBin !== undefined) throw new Error('stockBin is for the stock daemon');
  if (flavour === 'stock') args.push(options.stockBin ?? pidvisorBin, 'daemon');
  else args.push(options.hostEntry ?? entry.daemonHost, ...(options.hostArgs ?? []));
  args.push('--socket', socketPath, '--state-dir', stateDir, '--cgroup-name', cgroupName);
  if (options.tcp) {
    token = randomBytes(24).toString('hex');
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    args.push('--listen', '127.0.0.1:0', '--token-file', tokenFile);
  }
  const nofile = nofileFor();
  const started = startProcess(`pidvisor daemon (${options.label})`, 'prlimit', [`--nofile=${nofile}:${nofile}`, '--', process.execPath, ...daemonNodeArgs(), ...args], {
    logFile,
    env: daemonEnv(),
  });
  const cleanupDir = (): void => fs.rmSync(dir, { recursive: true, force: true });
  try {
    await waitForSocket(socketPath, START_TIMEOUT_MS, () => started.deadReason());
    // The daemon logs where it listens once both listeners are up: the TCP port is read there.
    const listening = await pollFor('the daemon to log "api listening"', START_TIMEOUT_MS, () => {
      const dead = started.deadReason();
      if (dead !== null) throw new Error(dead);
      for (const line of fs.readFileSync(logFile, 'utf8').split('\n')) {
        if (!line.includes('"api listening"')) continue;
        return JSON.parse(line) as { tcp: { host: string; port: number } | null };
      }
      return null;
    });
    const tcp = options.tcp && listening.tcp !== null && token !== null ? { ...listening.tcp, token } : null;
    // prlimit execs node, and the stock CLI execs into the keeper, which starts the daemon as
    // its child: the started pid is the keeper's then.
    const { daemon: pid, keeper: keeperPid } = daemonProcesses(started.pid);
    return {
      flavour,
      process: started,
      pid,
      keeperPid,
      socketPath,
      tcp,
      logFile,
      cgroupName,
      nofile,
      rss: () => rssBytes(pid),
      keeperRss: () => (keeperPid === null ? 0 : rssBytes(keeperPid)),
      async stop(timeoutMs) {
        const result = await stopProcess(started, timeoutMs);
        if (result.forced) sweepCgroups(cgroupName);
        cleanupDir();
        return { ms: result.ms, forced: result.forced };
      },
    };
  } catch (error) {
    await stopProcess(started, 5000);
    sweepCgroups(cgroupName);
    cleanupDir();
    throw error;
  }
}

/** The cgroup names of this run's daemons start with this (the bench's pid makes them its own). */
export function cgroupPrefix(): string {
  return `pidvisor-bench-api-${process.pid}-`;
}

/** Sweeps the cgroups of every daemon of this run (after an interrupted run). */
export function sweepAllCgroups(): void {
  const mount = capabilities().cgroup2Mount;
  if (mount === null) return;
  let names: string[] = [];
  try {
    names = fs.readdirSync(mount).filter((name) => name.startsWith(cgroupPrefix()));
  } catch {
    return;
  }
  for (const name of names) sweepCgroups(name);
}

/**
 * After a daemon had to be SIGKILLed: its services' processes are still in its cgroups (this
 * bench's own cgroup name, so nothing of anyone else's). cgroup.kill each, then remove them.
 */
export function sweepCgroups(cgroupName: string): void {
  const mount = capabilities().cgroup2Mount;
  if (mount === null) return;
  const root = path.join(mount, cgroupName);
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch {
    return;
  }
  const dirs = entries.map((name) => path.join(root, name)).filter((dir) => fs.existsSync(path.join(dir, 'cgroup.kill')));
  for (const dir of dirs) {
    try {
      fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1');
    } catch {
      // gone meanwhile
    }
  }
  const deadline = Date.now() + 10_000;
  for (const dir of [...dirs, root]) {
    for (;;) {
      try {
        fs.rmdirSync(dir);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || Date.now() > deadline) break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // EBUSY: still emptying
      }
    }
  }
}
