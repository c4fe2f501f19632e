// Scenario 3: pidvisor against supervisord and PM2, in one run: each starts N `sleep 3600`
// and then stops them all, through its own API, `peerRounds` times; the rounds rotate the
// order of the peers so drift in the machine's load spreads over all of them. Each peer's
// daemon is started before the rounds and torn down after them, outside the timings.
import { VERSION } from '../../daemon/version.js';
import type { ApiBenchConfig, Peer } from './config.js';
import type { PeerRound, PeerRunner } from './peer.js';
import { pidvisorPeer } from './peer-pidvisor.js';
import { pm2Available, pm2Peer, pm2Version } from './peer-pm2.js';
import { supervisordAvailable, supervisordPeer } from './peer-supervisord.js';
import { median } from './stats.js';

export interface PeerResult {
  name: Peer;
  version: string | null;
  how: PeerRunner['how'];
  rounds: PeerRound[];
  startMedianMs: number;
  stopMedianMs: number;
  /** CPU of the supervisor's process in those phases (medians). */
  startCpuMedianMs: number;
  stopCpuMedianMs: number;
  /** The largest over the rounds. */
  rssMaxBytes: number;
  rssMedianBytes: number;
  /** pidvisor under its keeper: the keeper's largest RSS, and the largest daemon + keeper sum of one round (null for the others). */
  keeperRssMaxBytes: number | null;
  rssWithKeeperMaxBytes: number | null;
  /** Every round had N running after the start and none left after the stop. */
  verified: boolean;
}

export interface PeersResults {
  programs: number;
  settleMs: number;
  peers: PeerResult[];
  skipped: Array<{ name: Peer; reason: string }>;
  /** pidvisor's daemon before its first program. */
  pidvisorIdleRssBytes: number | null;
}

export async function measurePeers(config: ApiBenchConfig, versions: { supervisord: string | null }, progress: (line: string) => void): Promise<PeersResults> {
  const n = config.peerPrograms;
  const skipped: PeersResults['skipped'] = [];
  const runners: Array<{ name: Peer; runner: PeerRunner; version: string | null }> = [];
  const options = { launchConcurrency: config.launchConcurrency, stopConcurrency: config.stopConcurrency, phaseTimeoutMs: config.phaseTimeoutMs };
  const pidvisor = pidvisorPeer({ ...options, mode: 'batch' });
  for (const name of config.peers) {
    if (name === 'pidvisor') runners.push({ name, runner: pidvisor, version: VERSION });
    if (name === 'pidvisor-each') runners.push({ name, runner: pidvisorPeer({ ...options, mode: 'each' }), version: VERSION });
    if (name === 'supervisord') {
      const reason = supervisordAvailable();
      if (reason === null) runners.push({ name, runner: supervisordPeer(n, config.phaseTimeoutMs), version: versions.supervisord });
      else skipped.push({ name, reason });
    }
    if (name === 'pm2') {
      const reason = pm2Available();
      const mode = process.env.BENCH_API_PM2_MODE === 'apps' ? 'apps' : 'instances';
      if (reason === null) runners.push({ name, runner: pm2Peer(mode, config.phaseTimeoutMs), version: pm2Version() });
      else skipped.push({ name, reason });
    }
  }
  const set: PeerRunner[] = [];
  const results = new Map<Peer, PeerRound[]>();
  let pidvisorIdleRssBytes: number | null = null;
  try {
    for (const { name, runner } of runners) {
      progress(`setting up ${name}`);
      await runner.setup();
      set.push(runner);
      results.set(name, []);
    }
    const daemon = pidvisor.daemon();
    if (daemon !== null) pidvisorIdleRssBytes = daemon.rss();
    for (let round = 0; round < config.peerRounds; round++) {
      const order = runners.map((_, i) => runners[(i + round) % runners.length]!);
      for (const { name, runner } of order) {
        const result = await runner.round(n, config.settleMs);
        results.get(name)!.push(result);
        progress(
          `round ${round + 1}/${config.peerRounds} ${name.padEnd(11)} start ${result.startMs.toFixed(0).padStart(6)} ms  stop ${result.stopMs.toFixed(0).padStart(6)} ms  ` +
            `(CPU ${result.startCpuMs.toFixed(0)}/${result.stopCpuMs.toFixed(0)} ms)  RSS ${(result.rssBytes / 2 ** 20).toFixed(1)} MiB  running ${result.running}/${n}  left ${result.leftAfterStop}` +
            (Object.keys(result.notes).length > 0 ? `  ${JSON.stringify(result.notes)}` : ''),
        );
      }
    }
  } finally {
    for (const runner of set.reverse()) {
      try {
        await runner.teardown();
      } catch (error) {
        progress(`teardown of ${runner.name} failed: ${(error as Error).message}`);
      }
    }
  }
  return {
    programs: n,
    settleMs: config.settleMs,
    peers: runners.map(({ name, runner, version }) => {
      const rounds = results.get(name) ?? [];
      return {
        name,
        version,
        how: runner.how,
        rounds,
        startMedianMs: median(rounds.map((r) => r.startMs)),
        stopMedianMs: median(rounds.map((r) => r.stopMs)),
        startCpuMedianMs: median(rounds.map((r) => r.startCpuMs)),
        stopCpuMedianMs: median(rounds.map((r) => r.stopCpuMs)),
        rssMaxBytes: Math.max(...rounds.map((r) => r.rssBytes)),
        rssMedianBytes: median(rounds.map((r) => r.rssBytes)),
        keeperRssMaxBytes: rounds.some((r) => r.keeperRssBytes !== undefined) ? Math.max(...rounds.map((r) => r.keeperRssBytes ?? 0)) : null,
        rssWithKeeperMaxBytes: rounds.some((r) => r.keeperRssBytes !== undefined) ? Math.max(...rounds.map((r) => r.rssBytes + (r.keeperRssBytes ?? 0))) : null,
        verified: rounds.length > 0 && rounds.every((r) => r.running === n && r.leftAfterStop === 0),
      };
    }),
    skipped,
    pidvisorIdleRssBytes,
  };
}
