// Settings of the init-mode benchmark (environment variables) and the paths it uses. The
// compiled files run from dist/bench/init/; results go to bench/.out/init/ (gitignored).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function findRepoRoot(): string {
  let dir = here;
  for (let depth = 0; depth < 6; depth++) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'pidvisor') return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`bench/init: cannot find the pidvisor repository above ${here}`);
}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} takes a whole number, not ${JSON.stringify(raw)}`);
  return value;
}

export const repoRoot = findRepoRoot();
export const outDir = path.join(repoRoot, 'bench', '.out', 'init');
export const resultsFile = path.join(outDir, 'results.json');
/** The compiled bench/init directory (this file's), where native-init.js and the probes live. */
export const benchDir = here;
export const pidvisorCli = path.join(repoRoot, 'dist', 'bin', 'pidvisor.js');
/** The native entry point (node-gyp builds it): `pidvisor-keeper init` from its first instruction. */
export const pidvisorInitBin = path.join(repoRoot, 'build', 'Release', 'pidvisor-init');

/**
 * `--config FILE --state-dir DIR` for init's services path (the Node init under the keeper, its
 * supervisor and config loaded). 'empty': a config with no service, what "with services" costs
 * at start; 'one': a service that sleeps, checked, started in its own cgroup, and stopped when
 * the main command exits. Each run gets its own state dir (init locks it), under one directory
 * removed at exit.
 */
export function servicesArgs(config: 'empty' | 'one' = 'empty'): string[] {
  const dir = fs.mkdtempSync(path.join(scratchDir, 'run-'));
  return ['--config', config === 'empty' ? emptyConfig : oneServiceConfig, '--state-dir', dir];
}
const scratchDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-bench-init-'));
const emptyConfig = path.join(scratchDir, 'empty.yaml');
fs.writeFileSync(emptyConfig, 'services: {}\n');
const oneServiceConfig = path.join(scratchDir, 'one.yaml');
fs.writeFileSync(oneServiceConfig, 'services:\n  idle:\n    command: [/bin/sleep, "3600"]\n    restart: { policy: always }\n');
process.on('exit', () => fs.rmSync(scratchDir, { recursive: true, force: true }));

export type Part = 'time' | 'memory' | 'imports';
const PARTS: readonly Part[] = ['time', 'memory', 'imports'];

function parts(): Set<Part> {
  const raw = process.env.BENCH_INIT_ONLY;
  if (raw === undefined || raw === '') return new Set(PARTS);
  const chosen = raw.split(',').map((s) => s.trim());
  for (const part of chosen) if (!PARTS.includes(part as Part)) throw new Error(`BENCH_INIT_ONLY takes ${PARTS.join(', ')}, not ${JSON.stringify(part)}`);
  return new Set(chosen as Part[]);
}

function targetIds(): Set<string> | null {
  const raw = process.env.BENCH_INIT_TARGETS;
  if (raw === undefined || raw === '') return null;
  return new Set(raw.split(',').map((s) => s.trim()));
}

export const settings = {
  /** The targets to run (ids as in targets.ts, and supervisord); null: every one. */
  targets: targetIds(),
  /** Timed start-to-exit runs per target, interleaved round by round. */
  runs: positiveInt('BENCH_INIT_RUNS', 20),
  /** Untimed runs of each target first (page cache, dentries). */
  warmup: positiveInt('BENCH_INIT_WARMUP', 2),
  /** Timed runs of supervisord (each takes seconds: its main loop ticks once a second). */
  supervisordRuns: positiveInt('BENCH_INIT_SUPERVISORD_RUNS', 20),
  /** Memory rounds per target; the table shows medians. */
  memoryRounds: positiveInt('BENCH_INIT_MEM_ROUNDS', 3),
  /** How long the main command (`sleep`) runs in the memory rounds. */
  sleepSeconds: positiveInt('BENCH_INIT_SLEEP_SECONDS', 5),
  /** Fresh processes per module in the import timing. */
  importRuns: positiveInt('BENCH_INIT_IMPORT_RUNS', 7),
  /** CPU-profiled runs of `pidvisor init -- /bin/true`. */
  profileRuns: positiveInt('BENCH_INIT_PROFILE_RUNS', 3),
  /** Cap on any one child process of the bench; it is killed (SIGKILL) past it. */
  timeoutMs: positiveInt('BENCH_INIT_TIMEOUT_SECONDS', 30) * 1000,
  parts: parts(),
  tini: process.env.TINI ?? '/usr/bin/tini',
  dumbInit: process.env.DUMB_INIT ?? '/usr/bin/dumb-init',
  supervisord: process.env.SUPERVISORD ?? '/usr/bin/supervisord',
  unshare: process.env.UNSHARE ?? 'unshare',
  /**
   * A built checkout of another pidvisor (say main, before a change): its services path is timed
   * in the same rounds, as `pidvisor-services-before`; unset, that target is left out.
   */
  before: process.env.BENCH_INIT_BEFORE === undefined || process.env.BENCH_INIT_BEFORE === '' ? null : process.env.BENCH_INIT_BEFORE,
};
