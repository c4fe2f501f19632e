// The PM2 side of the comparison, in a process of its own (PM2's client library reads
// PM2_HOME when loaded and keeps sockets and timers; it must not share the bench's event
// loop). Uses PM2's programmatic API from the copy installed under bench/.out/api/peers/.
//   node dist/bench/api/pm2-driver.js round N SETTLE_MS MODE   one start+stop round, prints `RESULT {json}`
//   node dist/bench/api/pm2-driver.js kill                      pm2.killDaemon()
// MODE: `instances` (one app, `instances: N`: a single call, God spawns them one after the
// other) or `apps` (an ecosystem of N apps, started 2 at a time by the client, PM2's
// CONCURRENT_ACTIONS). Either way each app is `sleep 3600` with interpreter none, fork
// mode, no autorestart, output to /dev/null.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { peersDir } from './paths.js';
import { countRunning, cpuSeconds, rssBytes, waitAllGone } from './proc.js';

type Callback<T> = (error: Error | null, value: T) => void;
interface Pm2 {
  connect(callback: Callback<unknown>): void;
  start(config: object, callback: Callback<unknown[]>): void;
  delete(name: string, callback: Callback<unknown[]>): void;
  list(callback: Callback<Array<{ pid: number; name: string; pm2_env: { status: string } }>>): void;
  killDaemon(callback: Callback<unknown>): void;
  disconnect(): void;
}

const promisify = <T>(fn: (callback: Callback<T>) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((error, value) => (error === null || error === undefined ? resolve(value) : reject(error instanceof Error ? error : new Error(JSON.stringify(error))))));

function loadPm2(): Pm2 {
  const require = createRequire(path.join(peersDir, 'package.json'));
  return require('pm2') as Pm2;
}

const SLEEP = ['/usr/bin/sleep', '/bin/sleep'].find((p) => fs.existsSync(p)) ?? 'sleep';
const app = (name: string) => ({ name, script: SLEEP, args: ['3600'], interpreter: 'none', exec_mode: 'fork', autorestart: false, out_file: '/dev/null', error_file: '/dev/null' });

async function round(n: number, settleMs: number, mode: string): Promise<void> {
  const pm2 = loadPm2();
  await promisify((cb) => pm2.connect(cb));
  try {
    const config = mode === 'apps' ? { apps: Array.from({ length: n }, (_, i) => app(`sleep-${i}`)) } : { apps: [{ ...app('sleep'), instances: n }] };
    const godPid = Number(fs.readFileSync(path.join(process.env.PM2_HOME!, 'pm2.pid'), 'utf8').trim());
    const cpu0 = cpuSeconds(godPid);
    const t0 = performance.now();
    await promisify<unknown[]>((cb) => pm2.start(config, cb));
    const startMs = performance.now() - t0;
    const startCpuMs = (cpuSeconds(godPid) - cpu0) * 1000;
    const listed = await promisify<Array<{ pid: number; pm2_env: { status: string } }>>((cb) => pm2.list(cb));
    const pids = listed.map((p) => p.pid).filter((pid) => pid > 0);
    const running = countRunning(pids, 'sleep');
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const rss = rssBytes(godPid);
    const cpu1 = cpuSeconds(godPid);
    const t1 = performance.now();
    await promisify<unknown[]>((cb) => pm2.delete('all', cb));
    const returned = performance.now();
    const leftAfterStop = await waitAllGone(pids, 120_000);
    const stopMs = performance.now() - t1;
    const stopCpuMs = (cpuSeconds(godPid) - cpu1) * 1000;
    const result = { startMs, stopMs, startCpuMs, stopCpuMs, stopTailMs: performance.now() - returned, running, leftAfterStop, rssBytes: rss, notes: { listed: listed.length, godPid, mode } };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } finally {
    pm2.disconnect();
  }
}

async function kill(): Promise<void> {
  const pm2 = loadPm2();
  await promisify((cb) => pm2.connect(cb));
  try {
    await promisify((cb) => pm2.killDaemon(cb));
  } finally {
    pm2.disconnect();
  }
}

const [command, ...rest] = process.argv.slice(2);
if (process.env.PM2_HOME === undefined) throw new Error('pm2-driver needs PM2_HOME');
if (command === 'round') await round(Number(rest[0]), Number(rest[1]), rest[2] ?? 'instances');
else if (command === 'kill') await kill();
else throw new Error(`pm2-driver: unknown command ${command}`);
process.exit(0);
