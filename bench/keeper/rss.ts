// Keeper resident memory (issue 10 target: at most 2 MiB with 1,000 children), beside tini's
// in the same run. Three readings of the keeper's VmRSS: with a daemon and an empty store; with
// 1,000 pidfds stored; and with those 1,000 processes as its own children after the daemon's
// SIGKILL. tini (Debian package `tini`) is measured holding one child, as the floor of a C init.
// Run: node dist/bench/keeper/rss.js [children]   (needs a build: npm run build)
import { spawn as spawnWithLibuv, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const keeperBin = path.join(root, 'build/Release/pidvisor-keeper');
const count = Number(process.argv[2] ?? '1000');
const TARGET_KIB = 2048;

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

function children(pid: number): number[] {
  const text = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(' ').map(Number);
}

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function events(child: ChildProcess): Array<Record<string, unknown>> {
  const seen: Array<Record<string, unknown>> = [];
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) seen.push(JSON.parse(line) as Record<string, unknown>);
  });
  return seen;
}

async function tiniRss(): Promise<number | null> {
  const tini = spawnWithLibuv('tini', ['-s', '--', 'sleep', '60'], { stdio: 'ignore' });
  const failed = await new Promise<boolean>((resolve) => {
    tini.once('error', () => resolve(true));
    tini.once('spawn', () => resolve(false));
  });
  if (failed) return null;
  await until(() => children(tini.pid!).length === 1, 'tini to start its child', 10_000);
  const rss = rssKiB(tini.pid!);
  tini.kill('SIGTERM');
  await new Promise((resolve) => tini.once('exit', resolve));
  return rss;
}

const keeper = spawnWithLibuv(keeperBin, ['--node', process.execPath, '--script', path.join(here, 'rss-daemon.js'), 'daemon', String(count)], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const seen = events(keeper);
const exited = new Promise((resolve) => keeper.once('exit', resolve));
let pids: number[] = [];
try {
  await until(() => children(keeper.pid!).length === 1, 'the first daemon');
  const empty = rssKiB(keeper.pid!);
  await until(() => seen.some((e) => e.event === 'deposited'), `${count} deposits`);
  pids = seen.find((e) => e.event === 'deposited')!.pids as number[];
  const stored = rssKiB(keeper.pid!);
  const daemon = children(keeper.pid!)[0]!;
  process.kill(daemon, 'SIGKILL');
  await until(() => children(keeper.pid!).length >= count && seen.some((e) => e.event === 'took-over'), `${count} children re-parented and a new daemon`);
  const withChildren = rssKiB(keeper.pid!);
  const tini = await tiniRss();
  const report = {
    children: count,
    keeperRssKiB: { emptyStore: empty, storedPidfds: stored, ownChildrenAndStore: withChildren },
    tiniRssKiB: tini,
    ratioToTini: tini === null ? null : Number((withChildren / tini).toFixed(2)),
    targetKiB: TARGET_KIB,
    met: withChildren <= TARGET_KIB,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  keeper.kill('SIGTERM');
  await exited;
}
