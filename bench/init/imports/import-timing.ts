// What loading each part of the init path costs, in fresh Node processes (probe.js):
//   - alone: import() of one package or one pidvisor module in an empty process: its whole
//     graph, shared dependencies included (so these overlap and do not add up);
//   - along the path: the init path's modules imported in order in one process, each step
//     paying only for what the earlier steps did not load (these add up to the whole path).
// Each figure is the median over BENCH_INIT_IMPORT_RUNS processes, interleaved.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { benchDir, repoRoot, settings } from '../config.js';
import { median } from '../stats.js';
import type { Inventory } from './inventory.js';
import type { ProbeStep } from './probe.js';

/** The init path, from the bottom up: `pidvisor init` loads api/cli/main.js, which loads the rest. */
const INIT_PATH = [
  'dist/native/index.js',
  'dist/daemon/logger.js',
  'dist/daemon/config.js',
  'dist/daemon/supervisor.js',
  'dist/daemon/init.js',
  'dist/api/server/index.js',
  'dist/api/cli/commands/init.js',
  'dist/api/cli/main.js',
];

export interface ImportCost {
  spec: string;
  /** Median milliseconds of the import(). */
  ms: number;
  /** Median growth of the process's RSS across the import(), bytes. */
  rssDelta: number;
  runs: number;
}

export interface ImportTiming {
  alone: ImportCost[];
  alongPath: ImportCost[];
  /** Sum of alongPath: the import cost of the whole init path. */
  pathTotalMs: number;
  failures: string[];
}

function probe(specs: readonly string[]): ProbeStep[] {
  const result = spawnSync(process.execPath, [path.join(benchDir, 'imports', 'probe.js'), ...specs], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: settings.timeoutMs,
    killSignal: 'SIGKILL',
  });
  if (result.status !== 0) throw new Error(`probe ${specs.join(' ')}: status ${result.status} ${result.stderr.toString().slice(0, 300)}`);
  return (JSON.parse(result.stdout.toString()) as { steps: ProbeStep[] }).steps;
}

function summarizeSteps(spec: string, steps: ProbeStep[]): ImportCost {
  return { spec, ms: median(steps.map((s) => s.ms)), rssDelta: median(steps.map((s) => s.rssDelta)), runs: steps.length };
}

/** The direct dependencies (package.json) that the init path actually loads. */
function loadedDependencies(inventory: Inventory): string[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const loaded = new Set(inventory.packages.map((p) => p.name));
  return Object.keys(manifest.dependencies ?? {}).filter((name) => loaded.has(name));
}

export function timeImports(inventory: Inventory): ImportTiming {
  const pathModules = INIT_PATH.map((file) => path.join(repoRoot, file)).filter((file) => fs.existsSync(file));
  const candidates = [...loadedDependencies(inventory), ...pathModules];
  const alone = new Map<string, ProbeStep[]>(candidates.map((c) => [c, []]));
  const along = new Map<string, ProbeStep[]>(pathModules.map((m) => [m, []]));
  const failures: string[] = [];
  for (let run = 0; run < settings.importRuns; run++) {
    for (let k = 0; k < candidates.length; k++) {
      const spec = candidates[(run + k) % candidates.length]!;
      try {
        alone.get(spec)!.push(...probe([spec]));
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
    try {
      for (const step of probe(pathModules)) along.get(step.spec)!.push(step);
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  const label = (spec: string): string => (path.isAbsolute(spec) ? path.relative(repoRoot, spec) : spec);
  const alongPath = pathModules.map((m) => summarizeSteps(label(m), along.get(m)!));
  return {
    alone: candidates.map((c) => summarizeSteps(label(c), alone.get(c)!)).sort((a, b) => b.ms - a.ms),
    alongPath,
    pathTotalMs: alongPath.reduce((sum, step) => sum + step.ms, 0),
    failures,
  };
}
