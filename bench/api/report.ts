// The table printed at the end, the checks against the targets, and results.json.
import fs from 'node:fs';
import path from 'node:path';
import type { ApiBenchConfig } from './config.js';
import type { PeersResults } from './scenario-peers.js';
import type { ListResults } from './scenario-list.js';
import type { RpsResults } from './scenario-rps.js';
import { mebibytes, round } from './stats.js';

export const TARGETS = {
  /** pidvisor starts N at least this many times faster than each peer. */
  startSpeedup: 5,
  /** ... and stops them at least this many times faster. */
  stopSpeedup: 10,
  /** The Node daemon's RSS with N programs, in bytes (64 MiB; the keeper's is reported beside it). */
  rssBytes: 64 * 2 ** 20,
} as const;

export interface Check {
  name: string;
  value: string;
  target: string;
  /** null: could not be checked (a peer missing, a scenario skipped). */
  pass: boolean | null;
}

export interface ApiBenchResults {
  meta: Record<string, unknown>;
  rps: RpsResults | null;
  list: ListResults | null;
  peers: PeersResults | null;
  errors: Record<string, string>;
}

const ms = (value: number): string => (value >= 100 ? `${value.toFixed(0)} ms` : `${value.toFixed(1)} ms`);
const mib = (bytes: number): string => `${mebibytes(bytes).toFixed(1)} MiB`;
const rate = (value: number): string => `${value >= 100 ? value.toFixed(0) : value.toFixed(1)}/s`;

export function checks(results: ApiBenchResults): Check[] {
  const out: Check[] = [];
  const peers = results.peers;
  if (peers === null) return out;
  const pv = peers.peers.find((p) => p.name === 'pidvisor');
  const others = peers.peers.filter((p) => !p.name.startsWith('pidvisor'));
  const missing = (['supervisord', 'pm2'] as const).filter((name) => !others.some((p) => p.name === name));
  for (const [what, key, target] of [
    ['start', 'startMedianMs', TARGETS.startSpeedup],
    ['stop', 'stopMedianMs', TARGETS.stopSpeedup],
  ] as const) {
    if (pv === undefined || others.length === 0) {
      out.push({ name: `${what} ${peers.programs}: speedup vs each peer`, value: 'n/a', target: `>= ${target}x`, pass: null });
      continue;
    }
    const speedups = others.map((p) => ({ name: p.name, x: p[key] / pv[key] }));
    const worst = Math.min(...speedups.map((s) => s.x));
    out.push({
      name: `${what} ${peers.programs}: speedup vs each peer`,
      value: speedups.map((s) => `${s.x.toFixed(1)}x ${s.name}`).join(', ') + (missing.length > 0 ? ` (${missing.join(', ')} not run)` : ''),
      target: `>= ${target}x both`,
      pass: missing.length > 0 ? null : worst >= target && pv.verified,
    });
  }
  if (pv !== undefined) {
    out.push({
      name: `daemon RSS with ${peers.programs} programs (max over rounds)`,
      value: mib(pv.rssMaxBytes) + (pv.rssWithKeeperMaxBytes === null ? '' : ` (with the keeper: ${mib(pv.rssWithKeeperMaxBytes)})`),
      target: `<= ${mib(TARGETS.rssBytes)}`,
      pass: pv.rssMaxBytes <= TARGETS.rssBytes,
    });
  }
  return out;
}

export function formatReport(config: ApiBenchConfig, results: ApiBenchResults, checkList: Check[]): string {
  const rows: string[][] = [['measurement', 'pidvisor', 'baseline', 'ratio / note']];
  const { rps, list, peers } = results;
  if (rps !== null) {
    for (const cell of rps.cells) {
      const what = cell.workload === 'get' ? `GET /v1/processes/{id} ${cell.transport}, ${rps.connections} conns` : `launch+wait+delete true ${cell.transport}, ${rps.launchConnections} conns`;
      const bare = cell.workload === 'get' ? 'GET /bare' : 'POST /bare/run';
      rows.push([
        what,
        `${rate(cell.summary.pidvisorPerSecond)}, p99 ${ms(cell.summary.pidvisorP99Ms)}`,
        `${bare}: ${rate(cell.summary.barePerSecond)}, p99 ${ms(cell.summary.bareP99Ms)}`,
        `bare/pidvisor ${cell.summary.overhead.toFixed(2)}x rate; p99 ${(cell.summary.pidvisorP99Ms / cell.summary.bareP99Ms).toFixed(2)}x; ` +
          `server CPU/op ${cell.summary.pidvisorCpuUsPerOp.toFixed(0)} vs ${cell.summary.bareCpuUsPerOp.toFixed(0)} µs = ${cell.summary.cpuOverhead.toFixed(2)}x; daemon CPU ${cell.summary.pidvisorServerCpuPercent.toFixed(0)}%`,
      ]);
    }
    if (rps.stockGet !== null) {
      const refused = Object.entries(rps.stockGet.failures).map(([k, v]) => `${v} ${k}`).join(', ') || 'none refused';
      rows.push(['GET /v1/processes/{id} unix, stock daemon', `${rate(rps.stockGet.perSecond)} answered 200`, '', `${refused} (rate limit: burst 1000, 500/s per caller)`]);
    }
  }
  if (list !== null) {
    rows.push([
      `GET /v1/processes, ${list.services} services`,
      `${ms(list.listMedianMs)}, ${mib(list.responseBytes)}`,
      `1 service: ${ms(list.listOneMedianMs)}`,
      `${Math.round(list.bytesPerProcess)} bytes/process`,
    ]);
    rows.push([`  launch ${list.services} (${config.launchConcurrency} in flight)`, `${(list.launchMs / 1000).toFixed(1)} s`, '', `${rate(list.launchesPerSecond)}; ${list.running} running`]);
    rows.push([`  daemon RSS with ${list.services}`, mib(list.daemonRssBytes), '', `nofile ${list.nofile}`]);
    rows.push([`  SIGTERM, all ${list.services} stopped`, `${(list.shutdownMs / 1000).toFixed(2)} s`, '', `${list.leftAfterShutdown} pids left`]);
  }
  if (peers !== null) {
    const pv = peers.peers.find((p) => p.name === 'pidvisor');
    const each = peers.peers.find((p) => p.name === 'pidvisor-each');
    const others = peers.peers.filter((p) => !p.name.startsWith('pidvisor'));
    for (const [what, key, cpuKey] of [
      ['start', 'startMedianMs', 'startCpuMedianMs'],
      ['stop', 'stopMedianMs', 'stopCpuMedianMs'],
    ] as const) {
      rows.push([
        `${what} ${peers.programs} sleep (daemon CPU)`,
        pv === undefined ? 'n/a' : `${ms(pv[key])} (${ms(pv[cpuKey])})`,
        others.map((p) => `${p.name} ${ms(p[key])} (${ms(p[cpuKey])})`).join(', '),
        pv === undefined ? '' : others.map((p) => `${(p[key] / pv[key]).toFixed(1)}x faster than ${p.name}`).join(', '),
      ]);
      if (each !== undefined) {
        rows.push([
          `  the same, one request per program`,
          `${ms(each[key])} (${ms(each[cpuKey])})`,
          '',
          others.map((p) => `${(p[key] / each[key]).toFixed(1)}x faster than ${p.name}`).join(', '),
        ]);
      }
    }
    rows.push([
      `supervisor RSS with ${peers.programs}`,
      pv === undefined
        ? 'n/a'
        : `${mib(pv.rssMaxBytes)} max` +
          (pv.keeperRssMaxBytes === null || pv.rssWithKeeperMaxBytes === null ? '' : ` + keeper ${mib(pv.keeperRssMaxBytes)} = ${mib(pv.rssWithKeeperMaxBytes)}`) +
          (each === undefined ? '' : ` (one request each: ${mib(each.rssMaxBytes)})`),
      others.map((p) => `${p.name} ${mib(p.rssMaxBytes)}`).join(', '),
      peers.pidvisorIdleRssBytes === null ? '' : `pidvisor idle: ${mib(peers.pidvisorIdleRssBytes)}`,
    ]);
    for (const s of peers.skipped) rows.push([`  ${s.name} skipped`, '', '', s.reason]);
  }
  const how: string[] = [];
  if (peers !== null) {
    how.push('', `how each supervisor was driven (${peers.programs} x sleep 3600, medians of ${config.peerRounds} rounds; RSS read after a ${peers.settleMs} ms pause):`);
    for (const p of peers.peers) how.push(`  ${p.name}${p.version === null ? '' : ` (${p.version})`}: start = ${p.how.start}; stop = ${p.how.stop}; RSS = ${p.how.rss}`);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const table = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  const checkRows = checkList.map((c) => `${c.pass === null ? 'N/A ' : c.pass ? 'PASS' : 'MISS'}  ${c.name}: ${c.value} (target ${c.target})`);
  return [...table, ...how, '', 'targets:', ...(checkRows.length > 0 ? checkRows : ['  (none checked: the peers scenario did not run)'])].join('\n');
}

export function writeJson(file: string, config: ApiBenchConfig, results: ApiBenchResults, checkList: Check[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const replacer = (_key: string, value: unknown): unknown => {
    if (value instanceof Set) return [...value];
    if (typeof value === 'number') return Number.isFinite(value) ? round(value, 3) : null;
    return value;
  };
  fs.writeFileSync(file, `${JSON.stringify({ ...results, config, targets: TARGETS, checks: checkList }, replacer, 2)}\n`);
}
