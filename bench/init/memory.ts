// Resident memory of each init as PID 1 while its main command (`sleep N`) runs, read from
// the host side: the init is the child of `unshare --fork`, the command the init's child.
// Once the command runs, the bench waits SETTLE_MS, then takes SAMPLES samples STEP_MS apart
// and keeps their medians (VmHWM: the largest, i.e. the peak since the init started).
// Rounds interleave the targets; the table shows the median over rounds.
import { spawn } from 'node:child_process';
import { settings } from './config.js';
import { asPid1, commOf, findInitAndCommand, sleepMs } from './pidns.js';
import { readMemory, type MemorySample } from './proc-memory.js';
import { median } from './stats.js';

const SETTLE_MS = 1000;
const SAMPLES = 4;
const STEP_MS = 250;

export interface MemoryEntry {
  id: string;
  label: string;
  argv: string[];
  /** supervisord does not exit when its program does: SIGTERM it after sampling. */
  stopInitAfterSampling: boolean;
}

export interface MemoryRound {
  initComm: string | null;
  sample: MemorySample | null;
  error: string | null;
}

export interface MemoryResult {
  id: string;
  label: string;
  argv: string[];
  rounds: MemoryRound[];
  /** Medians over the successful rounds (bytes); null when none succeeded. */
  vmRss: number | null;
  pss: number | null;
  vmHwm: number | null;
  rssAnon: number | null;
  rssFile: number | null;
}

function medianSample(samples: MemorySample[]): MemorySample {
  const pick = (key: keyof MemorySample): number | null => {
    const values = samples.flatMap((s) => (s[key] === null ? [] : [s[key] as number]));
    return values.length === 0 ? null : median(values);
  };
  return {
    vmRss: pick('vmRss')!,
    vmHwm: Math.max(...samples.map((s) => s.vmHwm)),
    rssAnon: pick('rssAnon')!,
    rssFile: pick('rssFile')!,
    rssShmem: pick('rssShmem')!,
    pss: pick('pss'),
    pssAnon: pick('pssAnon'),
    pssFile: pick('pssFile'),
  };
}

async function measureOnce(entry: MemoryEntry): Promise<MemoryRound> {
  const child = spawn(entry.argv[0]!, entry.argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 2000) stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const exitedWithin = (ms: number): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]).finally(() => clearTimeout(timer));
  };
  const round: MemoryRound = { initComm: null, sample: null, error: null };
  try {
    if (child.pid === undefined) throw new Error(`cannot start ${entry.argv[0]}`);
    const found = await findInitAndCommand(child.pid, 'sleep', settings.timeoutMs);
    if (found === null) throw new Error(`the main command never ran under ${entry.id}: ${stderr.slice(0, 500)}`);
    round.initComm = commOf(found.init);
    await sleepMs(SETTLE_MS);
    const samples: MemorySample[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      if (i > 0) await sleepMs(STEP_MS);
      if (commOf(found.command) !== 'sleep') break;
      const sample = readMemory(found.init);
      if (sample !== null) samples.push(sample);
    }
    if (samples.length === 0) throw new Error(`the main command ended before a sample under ${entry.id} (raise BENCH_INIT_SLEEP_SECONDS)`);
    round.sample = medianSample(samples);
    // Our own descendant: the init we started, inside the namespace we created.
    if (entry.stopInitAfterSampling) process.kill(found.init, 'SIGTERM');
  } catch (error) {
    round.error = (error as Error).message;
  }
  if (!(await exitedWithin(settings.sleepSeconds * 1000 + settings.timeoutMs))) {
    child.kill('SIGKILL'); // unshare; --kill-child takes the namespace with it
    round.error ??= `${entry.id} did not exit in time: killed`;
    await exited;
  }
  if (round.error === null && child.exitCode !== 0) round.error = `${entry.id} exited with ${child.exitCode ?? child.signalCode}: ${stderr.slice(0, 500)}`;
  return round;
}

export function memoryEntry(id: string, label: string, argv: readonly string[], stopInitAfterSampling = false): MemoryEntry {
  return { id, label, argv: asPid1(argv), stopInitAfterSampling };
}

export async function measureMemory(entries: readonly MemoryEntry[], log: (line: string) => void): Promise<MemoryResult[]> {
  if (settings.sleepSeconds * 1000 < SETTLE_MS + SAMPLES * STEP_MS + 500) throw new Error('BENCH_INIT_SLEEP_SECONDS must be at least 3');
  const rounds = new Map<string, MemoryRound[]>(entries.map((e) => [e.id, []]));
  for (let round = 0; round < settings.memoryRounds; round++) {
    for (let k = 0; k < entries.length; k++) {
      const entry = entries[(round + k) % entries.length]!;
      rounds.get(entry.id)!.push(await measureOnce(entry));
    }
    log(`  memory round ${round + 1}/${settings.memoryRounds} done`);
  }
  return entries.map((entry) => {
    const all = rounds.get(entry.id)!;
    const good = all.flatMap((r) => (r.sample === null || r.error !== null ? [] : [r.sample]));
    const pick = (key: keyof MemorySample): number | null => {
      const values = good.flatMap((s) => (s[key] === null ? [] : [s[key] as number]));
      return values.length === 0 ? null : median(values);
    };
    return { id: entry.id, label: entry.label, argv: entry.argv, rounds: all, vmRss: pick('vmRss'), pss: pick('pss'), vmHwm: pick('vmHwm'), rssAnon: pick('rssAnon'), rssFile: pick('rssFile') };
  });
}
