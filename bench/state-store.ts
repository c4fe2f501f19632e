// What persisting the daemon's state costs a launch (daemon/state-store.ts), in one run:
//   1. launch time of N services (`sleep`, output captured) through a Supervisor, with and without the state
//      journal recording every change, rounds interleaved so machine load hits both alike;
//   2. one change recorded three ways, with N services in the state: the journal's append
//      (what the daemon does: write(2), fdatasync deferred), the same append with an
//      fdatasync each time, and the alternative design, a whole snapshot per change
//      (temp file + fsync + rename), which grows with N.
// Run: node dist/bench/state-store.js   (BENCH_SERVICES, BENCH_ROUNDS to resize)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { raiseSoftLimitToHard } from '../native/index.js';
import { EventLog } from '../daemon/events.js';
import { StateRecorder } from '../daemon/state-recorder.js';
import { StateStore, type JournalRecord } from '../daemon/state-store.js';
import { Supervisor } from '../daemon/supervisor.js';
import { median } from './lib/stats.js';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 300);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CHANGES = 200;
const logger = pino({ level: 'silent' });

/** Microseconds per launch of SERVICES services, the state recorded or not. */
async function launchRound(persist: boolean): Promise<number> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-bench-state-'));
  const store = persist ? StateStore.open(stateDir) : null;
  const supervisor = new Supervisor({ stateDir, logger, events: new EventLog(), cgroupName: `pidvisor-bench-state-${process.pid}` });
  const recorder = store === null ? null : new StateRecorder(store, supervisor, logger);
  recorder?.start();
  const t0 = performance.now();
  for (let i = 0; i < SERVICES; i++) await supervisor.launch({ name: `s-${i}`, command: ['sleep', '3600'], startGraceMs: 0 });
  const perLaunchUs = ((performance.now() - t0) * 1000) / SERVICES;
  await supervisor.shutdown();
  recorder?.stop();
  store?.close();
  fs.rmSync(stateDir, { recursive: true, force: true });
  return perLaunchUs;
}

/** A state of `n` services as the daemon records them. */
function fill(store: StateStore, n: number): void {
  for (let i = 0; i < n; i++) {
    const id = `svc${i.toString(16).padStart(9, '0')}`;
    store.append({ t: 'service', id, origin: 'api', spec: { name: `s-${i}`, command: ['sleep', '3600'], startGraceMs: 0 } });
    store.append({ t: 'state', id, state: 'running', reason: 'started', spawns: 1, instance: { pid: 1000 + i, instance: `${1000 + i}.abc`, boot: 'bench', handle: { type: 254, bytes: '0102030405060708' }, cgroup: `/sys/fs/cgroup/pidvisor/s-${i}.${id}.1`, startedAt: new Date().toISOString() } });
  }
}

function perChangeUs(n: number): { journal: number; journalFdatasync: number; snapshot: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-bench-journal-'));
  const store = StateStore.open(dir);
  fill(store, n);
  const change = (i: number): JournalRecord => ({ t: 'state', id: 'svc000000000', state: 'running', reason: `change ${i}`, spawns: 1, instance: null });
  const time = (fn: (i: number) => void): number => {
    const t0 = performance.now();
    for (let i = 0; i < CHANGES; i++) fn(i);
    return ((performance.now() - t0) * 1000) / CHANGES;
  };
  const journal = time((i) => store.append(change(i)));
  const fd = fs.openSync(store.file, 'r');
  const journalFdatasync = time((i) => {
    store.append(change(i));
    fs.fdatasyncSync(fd);
  });
  fs.closeSync(fd);
  const snapshot = time((i) => {
    store.state.services.get('svc000000000')!.reason = `change ${i}`;
    const json = JSON.stringify([...store.state.services.values()]);
    const temp = path.join(dir, 'snapshot.tmp');
    const out = fs.openSync(temp, 'w');
    fs.writeSync(out, json);
    fs.fsyncSync(out);
    fs.closeSync(out);
    fs.renameSync(temp, path.join(dir, 'snapshot.json'));
  });
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { journal, journalFdatasync, snapshot };
}

async function main(): Promise<void> {
  raiseSoftLimitToHard('nofile');
  const without: number[] = [];
  const withJournal: number[] = [];
  await launchRound(false); // warm-up
  // Which goes first alternates: a round runs on what the previous one's shutdown left busy.
  for (let round = 0; round < ROUNDS; round++) {
    for (const persist of round % 2 === 0 ? [false, true] : [true, false]) (persist ? withJournal : without).push(await launchRound(persist));
  }
  const launch = { withoutUs: median(without), withJournalUs: median(withJournal) };
  console.log(`launch of ${SERVICES} services, median of ${ROUNDS} rounds (us per launch):`);
  console.log(`  no state recorded ${launch.withoutUs.toFixed(0)}   journal ${launch.withJournalUs.toFixed(0)}   ratio ${(launch.withJournalUs / launch.withoutUs).toFixed(2)}`);
  console.log(`  rounds: without ${without.map((v) => v.toFixed(0)).join(' ')}; journal ${withJournal.map((v) => v.toFixed(0)).join(' ')}`);
  console.log(`one recorded change (us, mean of ${CHANGES}), by services in the state:`);
  for (const n of [10, 100, 1000]) {
    const c = perChangeUs(n);
    console.log(`  ${String(n).padStart(5)}: journal ${c.journal.toFixed(1)}   journal+fdatasync ${c.journalFdatasync.toFixed(0)}   snapshot(temp+fsync+rename) ${c.snapshot.toFixed(0)}`);
  }
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

await main();
