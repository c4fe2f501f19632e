// The API benchmark (issue "HTTP API and CLI"). A benchmark, not a test: it prints ratios
// against baselines measured in the same run, and checks them against the targets.
//   1. rps:   request rate and p99 of GET /v1/processes/{id} and of launch+wait+delete of
//             `true`, on the unix socket and on loopback TCP with the bearer token, against
//             a bare fastify route served the same way (scenario-rps.ts);
//   2. list:  GET /v1/processes with 10,000 services: time and size (scenario-list.ts);
//   3. peers: start 200 `sleep 3600` and stop them all through pidvisor's API, supervisord's
//             XML-RPC and PM2's programmatic API; the daemon's RSS with 200 (scenario-peers.ts).
// Every server and supervisor runs in its own process, never in the load generator's.
// Run: npm run build, then node dist/bench/api/run.js (settings: BENCH_API_*, config.ts).
// Writes bench/.out/api/results.json; daemon and peer logs go to bench/.out/api/ as well.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killAllStarted, terminateAllStarted } from './children.js';
import { readConfig, type ApiBenchConfig } from './config.js';
import { sweepAllCgroups } from './daemon-process.js';
import { outDir, peersDir, pidvisorBin, repoRoot, entry } from './paths.js';
import { PM2_VERSION, pm2Available } from './peer-pm2.js';
import { checks, formatReport, writeJson, type ApiBenchResults } from './report.js';
import { measureList } from './scenario-list.js';
import { measurePeers } from './scenario-peers.js';
import { measureRps } from './scenario-rps.js';

const progress = (line: string): void => console.error(`[bench:api] ${line}`);
const loadAverage = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

/** The commit measured: git's HEAD (with `+dirty` when the tree has changes), or BENCH_API_COMMIT outside a checkout. */
function commit(): string | null {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return `${head}${dirty ? '+dirty' : ''}`;
  } catch {
    return process.env.BENCH_API_COMMIT ?? null;
  }
}

function supervisordVersion(): string | null {
  try {
    return execFileSync('/usr/bin/supervisord', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

/** PM2 is installed at bench time under bench/.out/api/peers/ (gitignored), with npm, unless BENCH_API_NO_INSTALL is set. */
function ensurePm2(config: ApiBenchConfig): void {
  if (!config.only.has('peers') || !config.peers.includes('pm2') || pm2Available() === null) return;
  if (process.env.BENCH_API_NO_INSTALL) return;
  progress(`installing pm2@${PM2_VERSION} into ${path.relative(repoRoot, peersDir)} (npm install --prefix)`);
  fs.mkdirSync(peersDir, { recursive: true });
  execFileSync('npm', ['install', '--prefix', peersDir, '--no-save', '--no-audit', '--no-fund', '--loglevel=error', `pm2@${PM2_VERSION}`], { stdio: ['ignore', 'inherit', 'inherit'] });
}

async function main(): Promise<number> {
  const config = readConfig();
  for (const file of [pidvisorBin, ...Object.values(entry)]) {
    if (!fs.existsSync(file)) throw new Error(`${path.relative(repoRoot, file)} is missing: run npm run build first`);
  }
  fs.mkdirSync(outDir, { recursive: true });
  ensurePm2(config);
  const loadAtStart = os.loadavg()[0]!;
  const results: ApiBenchResults = {
    meta: {
      startedAt: new Date().toISOString(),
      commit: commit(),
      kernel: os.release(),
      node: process.version,
      cpus: os.availableParallelism(),
      loadAverageStart: os.loadavg(),
      supervisord: supervisordVersion(),
    },
    rps: null,
    list: null,
    peers: null,
    errors: {},
  };
  progress(`pidvisor ${results.meta.commit ?? '(commit unknown)'}; ${os.release()}, node ${process.version}, ${os.availableParallelism()} CPUs, load average ${loadAverage()}`);
  // A scenario that fails is reported and the others still run.
  const attempt = async <T>(name: string, run: () => Promise<T>): Promise<T | null> => {
    try {
      return await run();
    } catch (error) {
      progress(`${name} FAILED: ${(error as Error).stack ?? String(error)}`);
      results.errors[name] = (error as Error).message;
      return null;
    }
  };
  if (config.only.has('rps')) results.rps = await attempt('rps', () => measureRps(config, progress));
  if (config.only.has('list') && config.listServices > 0) results.list = await attempt('list', () => measureList(config, progress));
  if (config.only.has('peers')) {
    results.peers = await attempt('peers', () => measurePeers(config, { supervisord: results.meta.supervisord as string | null }, progress));
  }
  results.meta.loadAverageEnd = os.loadavg();
  progress(`load average at the end: ${loadAverage()}`);
  const checkList = checks(results);
  console.log(`\n${formatReport(config, results, checkList)}`);
  if (loadAtStart > os.availableParallelism() / 2 || os.loadavg()[0]! > os.availableParallelism() / 2) {
    console.log(
      `\nWARNING: load average ${loadAtStart.toFixed(2)} at the start and ${os.loadavg()[0]!.toFixed(2)} at the end on ${os.availableParallelism()} CPUs: ` +
        'other work competed for the CPUs and every figure above is skewed.',
    );
  }
  const file = path.join(outDir, 'results.json');
  writeJson(file, config, results, checkList);
  console.log(`\nresults: ${path.relative(process.cwd(), file)}`);
  return Object.keys(results.errors).length > 0 ? 1 : 0;
}

// An interrupted run leaves nothing behind: the daemons stop their services on SIGTERM;
// whatever is left in this run's cgroups is killed there.
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: stopping everything this bench started`);
    void terminateAllStarted(10_000).then(() => {
      sweepAllCgroups();
      process.exit(130);
    });
  });
}
process.on('exit', () => {
  killAllStarted();
});

process.exitCode = await main();
