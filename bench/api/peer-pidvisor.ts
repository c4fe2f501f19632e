// pidvisor as a peer: the stock daemon (`node dist/bin/pidvisor.js daemon`, default limits:
// 16 launches in flight, 1000 requests of burst then 500/s per caller) driven over its unix
// socket as a script would:
//   start: N POST /v1/processes {"command":["sleep","3600"],"stdout":"null","stderr":"null"},
//          `launchConcurrency` in flight; each answers 201 once its process has exec'd.
//   stop:  N DELETE /v1/processes/{id}, `stopConcurrency` in flight; each answers once the
//          whole tree is gone (cgroup empty in the default cgroup kill mode) and the service
//          is forgotten; then the pids are checked gone from /proc.
// The settle pause between the two also refills the rate-limit bucket, as any pause of 2 s
// would; refusals (429, 503) would be retried after Retry-After and are counted.
import { performance } from 'node:perf_hooks';
import { startPidvisor, type DaemonHandle } from './daemon-process.js';
import { closeTarget, unixTarget, type Target } from './http-client.js';
import type { PeerRound, PeerRunner } from './peer.js';
import { launch, pool, remove, SLEEP_SPEC, type Refusals } from './pidvisor-api.js';
import { countRunning, cpuSeconds, waitAllGone } from './proc.js';

export function pidvisorPeer(options: { launchConcurrency: number; stopConcurrency: number; phaseTimeoutMs: number }): PeerRunner & { daemon(): DaemonHandle | null } {
  let daemon: DaemonHandle | null = null;
  let target: Target | null = null;
  return {
    name: 'pidvisor',
    how: {
      start: `${options.launchConcurrency} concurrent POST /v1/processes on the unix socket of the stock daemon; each answers once exec'd`,
      stop: `${options.stopConcurrency} concurrent DELETE /v1/processes/{id}; each answers once the tree is gone; then every pid gone from /proc`,
      rss: 'daemon process VmRSS (/proc/<pid>/status)',
    },
    daemon: () => daemon,
    async setup() {
      daemon = await startPidvisor('stock', { tcp: false, label: 'peers' });
      target = unixTarget(daemon.socketPath, Math.max(options.launchConcurrency, options.stopConcurrency));
    },
    async round(n, settleMs): Promise<PeerRound> {
      const t = target!;
      const refusals: Refusals = { retried: {} };
      // A pause before the start as well: the bucket is full whatever came before.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const pid = daemon!.pid;
      const cpu0 = cpuSeconds(pid);
      const t0 = performance.now();
      const deadline = t0 + options.phaseTimeoutMs;
      const infos = await pool(n, options.launchConcurrency, deadline, () => launch(t, SLEEP_SPEC, refusals, deadline));
      const startMs = performance.now() - t0;
      const startCpuMs = (cpuSeconds(pid) - cpu0) * 1000;
      const pids = infos.map((info) => info.pid!);
      const running = countRunning(pids, 'sleep');
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      const rss = daemon!.rss();
      const cpu1 = cpuSeconds(pid);
      const t1 = performance.now();
      const deadline2 = t1 + options.phaseTimeoutMs;
      await pool(n, options.stopConcurrency, deadline2, (i) => remove(t, infos[i]!.id, refusals, deadline2));
      const returned = performance.now();
      const leftAfterStop = await waitAllGone(pids, options.phaseTimeoutMs);
      const stopMs = performance.now() - t1;
      const stopCpuMs = (cpuSeconds(pid) - cpu1) * 1000;
      return { startMs, stopMs, stopTailMs: performance.now() - returned, running, leftAfterStop, startCpuMs, stopCpuMs, rssBytes: rss, notes: { retried: refusals.retried } };
    },
    async teardown() {
      if (target !== null) closeTarget(target);
      if (daemon !== null) await daemon.stop(options.phaseTimeoutMs);
    },
  };
}
