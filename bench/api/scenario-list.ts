// Scenario 2: GET /v1/processes with many services (`sleep 3600`, output to /dev/null so
// each holds only its pidfd): the time of the request, from the first byte sent to the last
// byte received, and the size of the response. The daemon is daemon-host.ts (no rate limit:
// the launches are the setup here, not what is measured), started under prlimit with nofile
// at the hard limit. Clean-up is SIGTERM: the daemon stops every service, in parallel.
import { performance } from 'node:perf_hooks';
import type { ApiBenchConfig } from './config.js';
import { startPidvisor } from './daemon-process.js';
import { closeTarget, request, unixTarget } from './http-client.js';
import { launch, pool, SLEEP_SPEC, type ProcessInfo, type Refusals } from './pidvisor-api.js';
import { countRunning, waitAllGone } from './proc.js';
import { median } from './stats.js';

export interface ListResults {
  services: number;
  /** Launching them all, with `launchConcurrency` POSTs in flight. */
  launchMs: number;
  launchesPerSecond: number;
  running: number;
  responseBytes: number;
  bytesPerProcess: number;
  listMs: number[];
  listMedianMs: number;
  /** The same request with a single service, for scale. */
  listOneMedianMs: number;
  daemonRssBytes: number;
  /** SIGTERM until the daemon exited, every service stopped. */
  shutdownMs: number;
  leftAfterShutdown: number;
  refusals: Refusals;
  nofile: number;
}

export async function measureList(config: ApiBenchConfig, progress: (line: string) => void): Promise<ListResults> {
  const n = config.listServices;
  const daemon = await startPidvisor('unlimited', { tcp: false, label: 'list' });
  const target = unixTarget(daemon.socketPath, config.launchConcurrency);
  let pids: number[] = [];
  let stopped = false;
  try {
    const timeList = async (): Promise<{ ms: number; bytes: number; count: number }> => {
      const t0 = performance.now();
      const reply = await request(target, 'GET', '/v1/processes');
      const ms = performance.now() - t0;
      if (reply.status !== 200) throw new Error(`GET /v1/processes: HTTP ${reply.status}`);
      return { ms, bytes: reply.body.length, count: (JSON.parse(reply.body.toString('utf8')) as { processes: unknown[] }).processes.length };
    };
    const refusals: Refusals = { retried: {} };
    const first = await launch(target, SLEEP_SPEC, refusals, performance.now() + config.phaseTimeoutMs);
    pids.push(first.pid!);
    const one: number[] = [];
    for (let i = 0; i < config.listRepeats; i++) one.push((await timeList()).ms);

    progress(`launching ${n} services of sleep (${config.launchConcurrency} POSTs in flight)`);
    const t0 = performance.now();
    const deadline = t0 + config.phaseTimeoutMs;
    let done = 1;
    const infos: ProcessInfo[] = await pool(n - 1, config.launchConcurrency, deadline, async () => {
      const info = await launch(target, SLEEP_SPEC, refusals, deadline);
      if (++done % 2000 === 0) progress(`  ${done} launched, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return info;
    });
    const launchMs = performance.now() - t0;
    pids = [first.pid!, ...infos.map((info) => info.pid!)];
    const running = countRunning(pids, 'sleep');
    progress(`launched ${n} in ${(launchMs / 1000).toFixed(1)} s; ${running} running sleep`);

    const listMs: number[] = [];
    let responseBytes = 0;
    for (let i = 0; i < config.listRepeats; i++) {
      const { ms, bytes, count } = await timeList();
      if (count !== n) throw new Error(`GET /v1/processes listed ${count} processes, not ${n}`);
      listMs.push(ms);
      responseBytes = bytes;
    }
    const daemonRssBytes = daemon.rss();
    progress(`GET /v1/processes with ${n}: median ${median(listMs).toFixed(1)} ms, ${(responseBytes / 2 ** 20).toFixed(2)} MiB; daemon RSS ${(daemonRssBytes / 2 ** 20).toFixed(0)} MiB`);

    closeTarget(target);
    const shutdown = await daemon.stop(config.phaseTimeoutMs);
    stopped = true;
    const leftAfterShutdown = await waitAllGone(pids, 5000);
    progress(`SIGTERM with ${n} services: daemon gone in ${(shutdown.ms / 1000).toFixed(2)} s${shutdown.forced ? ' (FORCED with SIGKILL)' : ''}; ${leftAfterShutdown} left`);
    return {
      services: n,
      launchMs,
      launchesPerSecond: ((n - 1) / launchMs) * 1000,
      running,
      responseBytes,
      bytesPerProcess: responseBytes / n,
      listMs,
      listMedianMs: median(listMs),
      listOneMedianMs: median(one),
      daemonRssBytes,
      shutdownMs: shutdown.ms,
      leftAfterShutdown,
      refusals,
      nofile: daemon.nofile,
    };
  } finally {
    if (!stopped) {
      closeTarget(target);
      await daemon.stop(config.phaseTimeoutMs);
    }
  }
}
