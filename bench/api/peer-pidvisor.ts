// pidvisor as a peer: the stock daemon (`node dist/bin/pidvisor.js daemon`, default limits:
// 16 launches in flight, 1000 requests of burst then 500/s per caller) driven over its unix
// socket as a script would, in one of two modes:
//   batch (what the peers do too: supervisord's startAllProcesses/stopAllProcesses, PM2's one
//   start call with `instances` and delete('all')):
//     start: one POST /v1/processes/batch of N {"command":["sleep","3600"],"stdout":"null",
//            "stderr":"null","labels":{...}}; answers 201 once every process has exec'd.
//     stop:  one DELETE /v1/processes?label=...; answers once every tree is gone.
//   each (one request per program):
//     start: N POST /v1/processes, `launchConcurrency` in flight; each answers 201 once its
//            process has exec'd.
//     stop:  N DELETE /v1/processes/{id}, `stopConcurrency` in flight; each answers once the
//            whole tree is gone (cgroup empty in the default cgroup kill mode) and the service
//            is forgotten.
// Either way the pids are then checked gone from /proc.
// The settle pause between the two also refills the rate-limit bucket, as any pause of 2 s
// would; refusals (429, 503) would be retried after Retry-After and are counted.
import { performance } from 'node:perf_hooks';
import { startPidvisor, type DaemonHandle } from './daemon-process.js';
import { closeTarget, unixTarget, type Target } from './http-client.js';
import type { PeerRound, PeerRunner } from './peer.js';
import { launch, launchBatch, pool, remove, removeLabelled, SLEEP_SPEC, type ProcessInfo, type Refusals } from './pidvisor-api.js';
import { countRunning, cpuSeconds, waitAllGone } from './proc.js';

const BATCH_LABEL = { bench: 'peers' } as const;

export function pidvisorPeer(options: { launchConcurrency: number; stopConcurrency: number; phaseTimeoutMs: number; mode: 'batch' | 'each' }): PeerRunner & { daemon(): DaemonHandle | null } {
  let daemon: DaemonHandle | null = null;
  let target: Target | null = null;
  const batch = options.mode === 'batch';
  return {
    name: batch ? 'pidvisor' : 'pidvisor-each',
    how: batch
      ? {
          start: "one POST /v1/processes/batch of N on the unix socket of the stock daemon; answers once all exec'd",
          stop: 'one DELETE /v1/processes?label=bench=peers; answers once every tree is gone; then every pid gone from /proc',
          rss: 'Node daemon VmRSS (/proc/<pid>/status; the keeper\'s child), keeper VmRSS apart',
        }
      : {
          start: `${options.launchConcurrency} concurrent POST /v1/processes on the unix socket of the stock daemon; each answers once exec'd`,
          stop: `${options.stopConcurrency} concurrent DELETE /v1/processes/{id}; each answers once the tree is gone; then every pid gone from /proc`,
          rss: 'Node daemon VmRSS (/proc/<pid>/status; the keeper\'s child), keeper VmRSS apart',
        },
    daemon: () => daemon,
    async setup() {
      daemon = await startPidvisor('stock', { tcp: false, label: batch ? 'peers' : 'peers-each' });
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
      const infos: ProcessInfo[] = batch
        ? await launchBatch(t, Array.from({ length: n }, () => ({ ...SLEEP_SPEC, labels: BATCH_LABEL })), refusals, deadline)
        : await pool(n, options.launchConcurrency, deadline, () => launch(t, SLEEP_SPEC, refusals, deadline));
      const startMs = performance.now() - t0;
      const startCpuMs = (cpuSeconds(pid) - cpu0) * 1000;
      const pids = infos.map((info) => info.pid!);
      const running = countRunning(pids, 'sleep');
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      const rss = daemon!.rss();
      const keeperRss = daemon!.keeperRss();
      const cpu1 = cpuSeconds(pid);
      const t1 = performance.now();
      const deadline2 = t1 + options.phaseTimeoutMs;
      if (batch) {
        const removed = await removeLabelled(t, BATCH_LABEL, refusals, deadline2);
        if (removed.length !== n) throw new Error(`removed ${removed.length} of ${n}`);
      } else {
        await pool(n, options.stopConcurrency, deadline2, (i) => remove(t, infos[i]!.id, refusals, deadline2));
      }
      const returned = performance.now();
      const leftAfterStop = await waitAllGone(pids, options.phaseTimeoutMs);
      const stopMs = performance.now() - t1;
      const stopCpuMs = (cpuSeconds(pid) - cpu1) * 1000;
      return { startMs, stopMs, stopTailMs: performance.now() - returned, running, leftAfterStop, startCpuMs, stopCpuMs, rssBytes: rss, keeperRssBytes: keeperRss, notes: { retried: refusals.retried } };
    },
    async teardown() {
      if (target !== null) closeTarget(target);
      if (daemon !== null) await daemon.stop(options.phaseTimeoutMs);
    },
  };
}
