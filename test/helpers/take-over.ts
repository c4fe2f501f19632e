// What the take-over and keeper tests share: why they skip, and the harness of the tests that
// run `pidvisor daemon` without the keeper and SIGKILL it (test/daemon/take-over*.test.ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { capabilities, OrphanReaper, pidfdUnsupportedReason, setChildSubreaper, type ReapedOrphan } from '../../native/index.js';
import { removeCgroupSubtree } from './cgroup.js';
import { request, startDaemonProcess, type DaemonProcess } from './daemon-process.js';
import { killLeftInstances, type SeenInstance } from './instances.js';
import { pollUntilAsync } from './proc.js';

/**
 * Why a test that takes instances over must skip here, or null. Instances are named by pid and
 * pidfs inode (Linux 6.9); `withoutPidfs` says what the test loses without them.
 */
export function takeOverSkipReason(withoutPidfs = 'instances cannot be named on disk'): string | null {
  const pidfd = pidfdUnsupportedReason();
  if (pidfd !== null) return pidfd;
  if (!capabilities().features.pidfs.ok) return `no pidfs (Linux 6.9): ${withoutPidfs}`;
  return null;
}

/** A process as GET /v1/processes lists it: the fields these tests read. */
export interface ListedProcess {
  id: string;
  name: string | null;
  state: string;
  pid: number | null;
  instance: string | null;
  restarts: number;
  origin: string;
  exit: { reason: string; code: number | null; signal: string | null; pid: number | null; instance: string | null } | null;
}

export interface KeeperlessDaemons {
  /** Exits of services this test process reaped as their subreaper (after their daemon died). */
  readonly reaped: ReapedOrphan[];
  /** Every instance the test saw: killed after each test in case a failure left one running. */
  readonly seen: SeenInstance[];
  /** A fresh directory for this test (socket, state dir, config), removed after it. */
  makeDir(prefix: string): string;
  /** The current test's directory. */
  dir(): string;
  /** A daemon on the test's directory, once it answers /healthz. */
  start(args: string[]): Promise<{ daemon: DaemonProcess; socket: string }>;
  /** Tracks a daemon started by hand, so that it is stopped after the test. */
  track(daemon: DaemonProcess): void;
  /** Stops tracking a daemon that has exited. */
  forget(daemon: DaemonProcess): void;
  /** SIGKILLs the Node daemon and waits for its exit. */
  sigkill(daemon: DaemonProcess): Promise<void>;
  /** GET /v1/processes by name (or id), noting every instance. */
  list(socket: string): Promise<Map<string, ListedProcess>>;
  /** POST /v1/processes (output to null, no start grace unless given), expecting 201. */
  launch(socket: string, spec: Record<string, unknown>): Promise<ListedProcess>;
}

/**
 * Registers the hooks and returns the harness of a file whose tests run daemons without the
 * keeper (PIDVISOR_KEEPER=off): the path a daemon takes when no keeper held anything for it
 * (started by systemd or by hand after a crash). This test process is the services' subreaper,
 * with an orphan reaper, as the keeper would be, so that the exits of a SIGKILLed daemon's
 * services are reaped and a later daemon can learn their status (PIDFD_INFO_EXIT, Linux 6.15).
 * After each test: live daemons get a clean stop, instances left alive are killed with their
 * process groups, what a killed daemon left under `cgroupName` is removed, and so is the dir.
 */
export function keeperlessDaemons(cgroupName: string, options: { skipped: boolean }): KeeperlessDaemons {
  const reaped: ReapedOrphan[] = [];
  const seen: SeenInstance[] = [];
  const daemons: DaemonProcess[] = [];
  const reaper = new OrphanReaper({ onReap: (orphan) => reaped.push(orphan) });
  let dir = '';

  beforeAll(() => {
    if (options.skipped) return;
    setChildSubreaper(true);
    reaper.start();
  });
  afterAll(() => reaper.stop());
  afterEach(async () => {
    for (const daemon of daemons.splice(0)) await daemon.stop('SIGTERM');
    killLeftInstances(seen.splice(0), { processGroup: true });
    // What a killed or refused daemon left (a clean stop removes it: checked where it happens).
    if (!options.skipped) await removeCgroupSubtree(cgroupName);
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  const note = (p: { pid: number | null; instance: string | null }): void => {
    if (p.pid !== null && p.instance !== null) seen.push({ pid: p.pid, instance: p.instance });
  };
  const forget = (daemon: DaemonProcess): void => {
    const index = daemons.indexOf(daemon);
    if (index >= 0) daemons.splice(index, 1);
  };

  return {
    reaped,
    seen,
    makeDir(prefix) {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      return dir;
    },
    dir: () => dir,
    async start(args) {
      const socket = path.join(dir, 'api.sock');
      const daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state'), '--cgroup-name', cgroupName, ...args], { env: { PIDVISOR_KEEPER: 'off' } });
      daemons.push(daemon);
      await pollUntilAsync(
        async () => {
          if (daemon.process.exitCode !== null) throw new Error(`the daemon exited: ${JSON.stringify(daemon.logs)}`);
          return (await request(socket, 'GET', '/healthz')).status === 200;
        },
        60_000,
        'the daemon to answer /healthz',
      );
      return { daemon, socket };
    },
    track: (daemon) => void daemons.push(daemon),
    forget,
    async sigkill(daemon) {
      const pid = daemon.supervisorPid();
      if (pid <= 0) throw new Error('the Node daemon is not running');
      process.kill(pid, 'SIGKILL');
      expect([137, 'SIGKILL']).toContain(await daemon.exited);
      forget(daemon);
    },
    async list(socket) {
      const { processes } = (await request<{ processes: ListedProcess[] }>(socket, 'GET', '/v1/processes')).body;
      processes.forEach(note);
      return new Map(processes.map((p) => [p.name ?? p.id, p]));
    },
    async launch(socket, spec) {
      const { status, body } = await request<ListedProcess>(socket, 'POST', '/v1/processes', { startGraceMs: 0, stdout: 'null', stderr: 'null', ...spec });
      expect(status, JSON.stringify(body)).toBe(201);
      note(body);
      return body;
    },
  };
}
