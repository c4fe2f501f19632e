// Where loading the init path spends its CPU: `node --cpu-prof` (sampling every 100 µs) of
// probe.js importing dist/api/cli/main.js then dist/api/cli/commands/init.js, as
// `pidvisor init` does before it runs anything. Self time is grouped by where the sampled
// function lives: a package in node_modules, pidvisor's dist/, Node's module loader, other
// Node internals, or V8's own entries ((program) holds much of the parsing and compiling,
// (garbage collector) the GC). A package's self time is the running of its code, mostly
// module top levels; compiling it lands in (program) or in the loader. The profile starts
// after Node's own bootstrap.
//
// Why not profile `pidvisor init -- /bin/true` itself: V8's sampler ticks with SIGPROF, and
// init mode takes SIGPROF over to forward it (FORWARDED_SIGNALS in daemon/init.ts): under
// --cpu-prof the main command gets SIGPROF (and dies of it), and pidvisor dies of SIGPROF
// too once it removes its handlers (libuv restores SIG_DFL), before the profile is written.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDir, repoRoot, settings } from '../config.js';
import { median } from '../stats.js';
import { packageOf } from './inventory.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileGroup {
  name: string;
  /** Median over the profiled runs, milliseconds. */
  selfMs: number;
}

export interface ProfileResult {
  argv: string[];
  runs: number;
  /** Median profile duration (ms): from the end of Node's bootstrap to exit. */
  profiledMs: number;
  groups: ProfileGroup[];
  /** The functions with the most self time ("name url"), medians over the runs. */
  functions: ProfileGroup[];
  failures: string[];
}

function groupOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? `V8 ${functionName}` : 'V8 (native)';
  if (url.startsWith('node:internal/modules/')) return 'node: module loader';
  if (url.startsWith('node:')) return 'node: other internals';
  if (url.startsWith('file:')) return packageOf(fileURLToPath(url));
  return url;
}

function functionOf(frame: ProfileNode['callFrame']): string {
  const where = frame.url.startsWith('file:') ? path.relative(repoRoot, fileURLToPath(frame.url)) : frame.url;
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName}${where === '' ? '' : ` ${where}`}`;
}

/** Self milliseconds per key in one profile. timeDeltas[i + 1] is how long sample i lasted. */
function selfTimes(profile: CpuProfile, keyOf: (frame: ProfileNode['callFrame']) => string): Map<string, number> {
  const groupById = new Map(profile.nodes.map((node) => [node.id, keyOf(node.callFrame)]));
  const times = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const micros = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1]! : 0;
    const group = groupById.get(profile.samples[i]!) ?? '?';
    times.set(group, (times.get(group) ?? 0) + micros / 1000);
  }
  return times;
}

export function profileInit(): ProfileResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-bench-cpuprof-'));
  const modules = ['dist/api/cli/main.js', 'dist/api/cli/commands/init.js'].map((file) => path.join(repoRoot, file));
  const argv = [process.execPath, '--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '100', path.join(benchDir, 'imports', 'probe.js'), ...modules];
  const perRun: Map<string, number>[] = [];
  const perRunFunctions: Map<string, number>[] = [];
  const durations: number[] = [];
  const failures: string[] = [];
  try {
    for (let run = 0; run < settings.profileRuns; run++) {
      for (const file of fs.readdirSync(dir)) fs.rmSync(path.join(dir, file));
      const result = spawnSync(argv[0]!, argv.slice(1), { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], timeout: settings.timeoutMs, killSignal: 'SIGKILL' });
      const file = fs.readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
      if (result.status !== 0 || file === undefined) {
        failures.push(`status ${result.status}, profile ${file ?? 'missing'}: ${result.stderr.toString().slice(0, 300)}`);
        continue;
      }
      const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
      perRun.push(selfTimes(profile, groupOf));
      perRunFunctions.push(selfTimes(profile, functionOf));
      durations.push((profile.endTime - profile.startTime) / 1000);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const merge = (runs: Map<string, number>[], limit: number): ProfileGroup[] => {
    const names = new Set(runs.flatMap((times) => [...times.keys()]));
    return [...names]
      .map((name) => ({ name, selfMs: median(runs.map((times) => times.get(name) ?? 0)) }))
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, limit);
  };
  return { argv, runs: perRun.length, profiledMs: median(durations), groups: merge(perRun, 1000), functions: merge(perRunFunctions, 40), failures };
}
