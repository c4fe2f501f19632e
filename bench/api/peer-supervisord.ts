// supervisord (Debian's `supervisor` package) as a peer: our own instance, in the foreground,
// with a config in a temp dir and its XML-RPC interface on a unix socket there (no system
// service is touched). The N programs are one [program:sleep] with numprocs=N, autostart
// off, startsecs=0 (RUNNING as soon as spawned, as pidvisor answers once exec'd; the default
// 1 s would make every start take a second) and output discarded (stdout_logfile=NONE),
// like pidvisor's `stdout: null`.
//   start: supervisor.startAllProcesses(wait=true): one call; returns once all are RUNNING.
//   stop:  supervisor.stopAllProcesses(wait=true): one call; SIGTERM to each, returns once
//          all are STOPPED (reaped), then the pids are checked gone from /proc.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { getResourceLimit } from '../../native/index.js';
import { startProcess, stopProcess, type Started } from './children.js';
import { outDir } from './paths.js';
import type { PeerRound, PeerRunner } from './peer.js';
import { countRunning, cpuSeconds, rssBytes, waitAllGone, waitForSocket } from './proc.js';
import { call, type XmlRpcValue } from './xmlrpc.js';

const SUPERVISORD = '/usr/bin/supervisord';

export function supervisordAvailable(): string | null {
  return fs.existsSync(SUPERVISORD) ? null : `${SUPERVISORD} not found (apt-get install -y supervisor)`;
}

export function supervisordPeer(programs: number, phaseTimeoutMs: number): PeerRunner {
  let dir = '';
  let socketPath = '';
  let daemon: Started | null = null;
  const rpc = (method: string, params: ReadonlyArray<string | number | boolean> = []): Promise<XmlRpcValue> => call(socketPath, method, params, phaseTimeoutMs);

  return {
    name: 'supervisord',
    how: {
      start: `XML-RPC supervisor.startAllProcesses(wait=true) on a unix socket: ${programs} of one [program] (numprocs=${programs}, startsecs=0)`,
      stop: 'XML-RPC supervisor.stopAllProcesses(wait=true), then every pid gone from /proc',
      rss: 'supervisord process VmRSS',
    },
    async setup() {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvb-supervisord-'));
      socketPath = path.join(dir, 'supervisor.sock');
      const conf = path.join(dir, 'supervisord.conf');
      fs.writeFileSync(
        conf,
        [
          '[unix_http_server]',
          `file=${socketPath}`,
          'chmod=0700',
          '',
          '[supervisord]',
          'nodaemon=true',
          'user=root',
          `logfile=${path.join(dir, 'supervisord.log')}`,
          `pidfile=${path.join(dir, 'supervisord.pid')}`,
          `childlogdir=${dir}`,
          'loglevel=warn',
          `minfds=${Math.min(getResourceLimit('nofile').hard ?? 4096, 4096)}`,
          '',
          '[rpcinterface:supervisor]',
          'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
          '',
          '[program:sleep]',
          'command=sleep 3600',
          'process_name=%(program_name)s_%(process_num)04d',
          `numprocs=${programs}`,
          'autostart=false',
          'autorestart=false',
          'startsecs=0',
          'stopsignal=TERM',
          'stdout_logfile=NONE',
          'stderr_logfile=NONE',
          '',
        ].join('\n'),
      );
      fs.mkdirSync(outDir, { recursive: true });
      daemon = startProcess('supervisord', SUPERVISORD, ['-n', '-c', conf], { logFile: path.join(outDir, 'supervisord.log') });
      await waitForSocket(socketPath, 30_000, () => daemon!.deadReason());
      const state = (await rpc('supervisor.getState')) as { statename: string };
      if (state.statename !== 'RUNNING') throw new Error(`supervisord is ${state.statename}`);
    },
    async round(n, settleMs): Promise<PeerRound> {
      if (n !== programs) throw new Error('supervisord peer: the config was written for another count');
      const pid = daemon!.pid;
      const cpu0 = cpuSeconds(pid);
      const t0 = performance.now();
      const started = (await rpc('supervisor.startAllProcesses', [true])) as Array<{ status: number; description: string }>;
      const startMs = performance.now() - t0;
      const startCpuMs = (cpuSeconds(pid) - cpu0) * 1000;
      const failed = started.filter((r) => r.status !== 80);
      if (started.length !== n || failed.length > 0) throw new Error(`supervisord started ${started.length - failed.length} of ${n}: ${JSON.stringify(failed[0] ?? null)}`);
      const infos = (await rpc('supervisor.getAllProcessInfo')) as Array<{ pid: number; statename: string }>;
      const pids = infos.map((info) => info.pid).filter((pid) => pid > 0);
      const running = countRunning(pids, 'sleep');
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      const rss = rssBytes(daemon!.pid);
      const cpu1 = cpuSeconds(pid);
      const t1 = performance.now();
      const stopped = (await rpc('supervisor.stopAllProcesses', [true])) as Array<{ status: number }>;
      const returned = performance.now();
      const leftAfterStop = await waitAllGone(pids, phaseTimeoutMs);
      const stopMs = performance.now() - t1;
      const stopCpuMs = (cpuSeconds(pid) - cpu1) * 1000;
      return {
        startCpuMs,
        stopCpuMs,
        startMs,
        stopMs,
        stopTailMs: performance.now() - returned,
        running,
        leftAfterStop,
        rssBytes: rss,
        notes: { stopResults: stopped.length, stopFailures: stopped.filter((r) => r.status !== 80).length },
      };
    },
    async teardown() {
      if (daemon !== null) {
        try {
          await rpc('supervisor.shutdown');
        } catch {
          // SIGTERM below does it
        }
        await stopProcess(daemon, 30_000);
      }
      if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
