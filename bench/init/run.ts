// Init-mode benchmark (issues "Container init mode", 14 target 2): `pidvisor init` as PID 1 of
// a new PID namespace, beside tini, dumb-init and supervisord in the same run.
//   - start-to-exit wall time with /bin/true as the main command (start-to-exit.ts): the native
//     entry pidvisor-init, `pidvisor init` through the Node CLI (which execs into it), the
//     services path (pidvisor-init --config: the Node init under the keeper), against the
//     command alone as PID 1, tini, dumb-init, supervisord with one program (supervisord.ts),
//     and two Node floors: `node -e` with child_process, and Node + the addon only (native-init.ts);
//   - resident memory of the init while `sleep N` runs, read from the host (memory.ts);
//   - what the init path loads and what that costs (imports/).
// Needs root (unshare --pid), util-linux unshare, Debian's tini and supervisor packages.
// Run: node dist/bench/init/run.js   (settings: config.ts; results: bench/.out/init/results.json)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { outDir, repoRoot, resultsFile, settings } from './config.js';
import { profileInit, type ProfileResult } from './imports/cpu-profile.js';
import { timeImports, type ImportTiming } from './imports/import-timing.js';
import { takeInventory, type Inventory } from './imports/inventory.js';
import { measureMemory, memoryEntry, type MemoryEntry, type MemoryResult } from './memory.js';
import { formatImports, formatMemory, formatTimes, memoryRatios, timeRatios, type TimeReport } from './report.js';
import { measureStartToExit } from './start-to-exit.js';
import { SupervisordHarness, supervisordMissing } from './supervisord.js';
import { SERVICES_TARGETS, TARGETS } from './targets.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function commandOutput(argv: string[]): string | null {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).trim();
  } catch {
    return null;
  }
}

function environment(): Record<string, unknown> {
  return {
    date: new Date().toISOString(),
    node: process.version,
    kernel: os.release(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    uid: process.getuid?.() ?? null,
    gitHead: commandOutput(['git', 'rev-parse', 'HEAD']),
    gitDirtyFiles: commandOutput(['git', 'status', '--porcelain'])?.split('\n').filter((l) => l !== '').length ?? null,
    tini: commandOutput([settings.tini, '--version']),
    dumbInit: commandOutput([settings.dumbInit, '--version']),
    supervisord: commandOutput([settings.supervisord, '--version']),
    unshare: commandOutput([settings.unshare, '--version']),
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) log('bench/init: not root; `unshare --pid` will most likely fail');
  const env = environment();
  const loadStart = os.loadavg();
  log(`bench/init: node ${process.version}, ${os.cpus().length} CPUs, load ${loadStart.map((l) => l.toFixed(2)).join(' ')}`);

  const skipped: Record<string, string> = {};
  const chosen = (id: string): boolean => settings.targets === null || settings.targets.has(id);
  const targets = TARGETS.filter((target) => {
    if (!chosen(target.id)) return false;
    const missing = target.missing();
    if (missing !== null) skipped[target.id] = missing;
    return missing === null;
  });
  const svMissing = chosen('supervisord') ? supervisordMissing() : 'not in BENCH_INIT_TARGETS';
  if (svMissing !== null) skipped.supervisord = svMissing;
  for (const [id, why] of Object.entries(skipped)) log(`  skipping ${id}: ${why}`);

  const harness = svMissing === null ? new SupervisordHarness(settings.sleepSeconds) : null;
  let times: TimeReport | null = null;
  let memory: MemoryResult[] | null = null;
  let inventory: Inventory | null = null;
  let importTiming: ImportTiming | null = null;
  let profile: ProfileResult | null = null;
  try {
    if (settings.parts.has('time')) {
      log(`start-to-exit: ${settings.runs} runs per target (supervisord ${settings.supervisordRuns}), ${settings.warmup} warm-up`);
      times = measureStartToExit(targets, harness, log);
    }
    if (settings.parts.has('memory')) {
      log(`memory: ${settings.memoryRounds} rounds per target, sleep ${settings.sleepSeconds}`);
      const sleep = ['/bin/sleep', String(settings.sleepSeconds)];
      // Not the services paths: their PID 1 is the keeper and the command is the Node init's child.
      const entries: MemoryEntry[] = targets.filter((t) => t.id !== 'baseline' && !SERVICES_TARGETS.has(t.id)).map((t) => memoryEntry(t.id, t.label, t.argv(sleep)));
      if (harness !== null) entries.push(memoryEntry('supervisord', 'supervisord', harness.memoryArgv(), true));
      memory = await measureMemory(entries, log);
    }
    if (settings.parts.has('imports')) {
      log('imports: module inventory, import() timing, CPU profile');
      inventory = takeInventory();
      importTiming = timeImports(inventory);
      profile = profileInit();
    }
  } finally {
    harness?.cleanup();
  }
  const loadEnd = os.loadavg();

  const tRatios = times === null ? null : timeRatios(times);
  const mRatios = memory === null ? null : memoryRatios(memory);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(
    resultsFile,
    `${JSON.stringify(
      {
        environment: { ...env, loadavgStart: loadStart, loadavgEnd: loadEnd },
        settings: { ...settings, parts: [...settings.parts], targets: settings.targets === null ? null : [...settings.targets] },
        skipped,
        startToExit: times === null ? null : { ...times, ratios: tRatios },
        memory: memory === null ? null : { results: memory, ratios: mRatios },
        imports: inventory === null ? null : { inventory, timing: importTiming, cpuProfile: profile },
      },
      null,
      2,
    )}\n`,
  );

  const sections: string[] = [];
  if (times !== null && tRatios !== null) sections.push(formatTimes(times, tRatios));
  if (memory !== null && mRatios !== null) sections.push(formatMemory(memory, mRatios, settings.sleepSeconds));
  if (inventory !== null) sections.push(formatImports(inventory, importTiming, profile));
  process.stdout.write(`\n${sections.join('\n\n')}\n\nload average: start ${loadStart.map((l) => l.toFixed(2)).join(' ')}, end ${loadEnd.map((l) => l.toFixed(2)).join(' ')}\nresults: ${resultsFile}\n`);
}

await main();
