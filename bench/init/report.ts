// The tables on stdout. Ratios are within this run only.
import type { ImportTiming } from './imports/import-timing.js';
import type { Inventory } from './imports/inventory.js';
import type { ProfileResult } from './imports/cpu-profile.js';
import type { MemoryResult } from './memory.js';
import type { SupervisordTimesResult, TargetTimes } from './start-to-exit.js';
import { mebibytes, ratio, type Summary } from './stats.js';

const ms = (value: number | null | undefined): string => (value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(1));
const mib = (bytes: number | null | undefined): string => (bytes === null || bytes === undefined || !Number.isFinite(bytes) ? '-' : mebibytes(bytes).toFixed(1));
const times = (value: number | null): string => (value === null ? '-' : `${value >= 10 ? value.toFixed(0) : value.toFixed(1)}x`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export interface TimeReport {
  targets: TargetTimes[];
  supervisord: SupervisordTimesResult | null;
}

export interface TimeRatios {
  /** Issue 14 target 2: pidvisor-init at most 2x tini (start to exit). */
  pidvisorInitVsTini: number | null;
  pidvisorInitVsTiniNet: number | null;
  pidvisorInitVsDumbInit: number | null;
  /** `pidvisor init` through the Node CLI (Node's start-up, then the same native init). */
  pidvisorVsTini: number | null;
  pidvisorVsTiniNet: number | null;
  /** Issue 14 target 2: with services, at most 1.1x Node + the addon alone. */
  servicesVsNodeAddon: number | null;
  /** The same with one service started and stopped, and through the Node CLI. */
  oneServiceVsNodeAddon: number | null;
  cliServicesVsNodeAddon: number | null;
  /** The same three in CPU time of the whole tree (medians), steadier on a loaded machine. */
  servicesVsNodeAddonCpu: number | null;
  oneServiceVsNodeAddonCpu: number | null;
  cliServicesVsNodeAddonCpu: number | null;
  beforeVsNodeAddon: number | null;
  beforeVsNodeAddonCpu: number | null;
  pidvisorVsSupervisord: number | null;
  pidvisorVsSupervisordNet: number | null;
  tiniNetMs: number | null;
  pidvisorInitNetMs: number | null;
  pidvisorNetMs: number | null;
}

export function timeRatios(report: TimeReport): TimeRatios {
  const medianOf = (id: string): number | null => report.targets.find((t) => t.id === id)?.summary.median ?? null;
  const cpuOf = (id: string): number | null => report.targets.find((t) => t.id === id)?.cpu.median ?? null;
  const base = medianOf('baseline');
  const net = (value: number | null): number | null => (value === null || base === null ? null : value - base);
  const native = medianOf('pidvisor-init');
  const pidvisor = medianOf('pidvisor');
  const tini = medianOf('tini');
  const supervisord = report.supervisord?.summary.median ?? null;
  return {
    pidvisorInitVsTini: ratio(native, tini),
    pidvisorInitVsTiniNet: ratio(net(native), net(tini)),
    pidvisorInitVsDumbInit: ratio(native, medianOf('dumb-init')),
    pidvisorVsTini: ratio(pidvisor, tini),
    pidvisorVsTiniNet: ratio(net(pidvisor), net(tini)),
    servicesVsNodeAddon: ratio(medianOf('pidvisor-services'), medianOf('native-init')),
    oneServiceVsNodeAddon: ratio(medianOf('pidvisor-service'), medianOf('native-init')),
    cliServicesVsNodeAddon: ratio(medianOf('pidvisor-cli-services'), medianOf('native-init')),
    servicesVsNodeAddonCpu: ratio(cpuOf('pidvisor-services'), cpuOf('native-init')),
    oneServiceVsNodeAddonCpu: ratio(cpuOf('pidvisor-service'), cpuOf('native-init')),
    cliServicesVsNodeAddonCpu: ratio(cpuOf('pidvisor-cli-services'), cpuOf('native-init')),
    beforeVsNodeAddon: ratio(medianOf('pidvisor-services-before'), medianOf('native-init')),
    beforeVsNodeAddonCpu: ratio(cpuOf('pidvisor-services-before'), cpuOf('native-init')),
    pidvisorVsSupervisord: ratio(native, supervisord),
    pidvisorVsSupervisordNet: ratio(net(native), net(supervisord)),
    tiniNetMs: net(tini),
    pidvisorInitNetMs: net(native),
    pidvisorNetMs: net(pidvisor),
  };
}

export function formatTimes(report: TimeReport, ratios: TimeRatios): string {
  const base = report.targets.find((t) => t.id === 'baseline')?.summary.median ?? null;
  const row = (label: string, s: Summary, failures: number | string, cpu: Summary | null): string[] => [
    label,
    ms(s.median),
    ms(s.p90),
    ms(s.min),
    ms(base === null ? null : s.median - base),
    cpu === null ? '' : ms(cpu.median),
    String(s.n),
    String(failures),
  ];
  const rows = report.targets.map((t) => row(t.label, t.summary, t.failures, t.cpu));
  const sv = report.supervisord;
  if (sv !== null) {
    rows.push(row('supervisord: started (its log)', sv.started, '', null));
    rows.push(row('supervisord: program spawned (its log)', sv.spawned, '', null));
    rows.push(row('supervisord: program reaped (its log) *', sv.summary, sv.failures, null));
    rows.push(row('supervisord: exit event at the listener', sv.event, '', null));
    rows.push(row('supervisord: gone, after the SIGTERM', sv.gone, '', sv.cpu));
  }
  const baseline = report.targets.find((t) => t.id === 'baseline')?.summary;
  const tiniInNoise = baseline !== undefined && ratios.tiniNetMs !== null && ratios.tiniNetMs < baseline.p90 - baseline.median;
  return [
    'Start-to-exit as PID 1, main command /bin/true (ms; every row includes spawning `unshare --pid --fork --mount-proc`;',
    'net = median minus the no-init median; cpu = median CPU time of the whole tree, user + system, in 10 ms ticks;',
    '* the supervisord figure compared)',
    table(['target', 'median', 'p90', 'min', 'net', 'cpu', 'n', 'fail'], rows),
    '',
    `pidvisor-init vs tini:            ${times(ratios.pidvisorInitVsTini)} (target <= 2x; net of the no-init baseline: ${times(ratios.pidvisorInitVsTiniNet)}, ${ms(ratios.pidvisorInitNetMs)} ms vs ${ms(ratios.tiniNetMs)} ms${tiniInNoise ? "; tini's net is within the baseline's spread, so the net ratio is noise: read the raw one" : ''})`,
    `pidvisor-init vs dumb-init:       ${times(ratios.pidvisorInitVsDumbInit)}`,
    `pidvisor init (node CLI) vs tini: ${times(ratios.pidvisorVsTini)} (net: ${times(ratios.pidvisorVsTiniNet)}, ${ms(ratios.pidvisorNetMs)} ms: Node's start-up, then the same native init)`,
    `with services vs node + addon:    ${times(ratios.servicesVsNodeAddon)} (target <= 1.1x; one service started and stopped: ${times(ratios.oneServiceVsNodeAddon)}; through the node CLI: ${times(ratios.cliServicesVsNodeAddon)}, two Node start-ups)`,
    `  the same in CPU time:            ${times(ratios.servicesVsNodeAddonCpu)} (one service: ${times(ratios.oneServiceVsNodeAddonCpu)}; node CLI: ${times(ratios.cliServicesVsNodeAddonCpu)})`,
    ...(ratios.beforeVsNodeAddon === null ? [] : [`  BENCH_INIT_BEFORE's, same run:    ${times(ratios.beforeVsNodeAddon)} (CPU ${times(ratios.beforeVsNodeAddonCpu)})`]),
    `pidvisor-init vs supervisord:     ${times(ratios.pidvisorVsSupervisord)} (net: ${times(ratios.pidvisorVsSupervisordNet)})`,
  ].join('\n');
}

export interface MemoryRatios {
  /** Issue 14 target 2: at most 2 MiB. */
  pidvisorInitRss: number | null;
  rssVsDumbInit: number | null;
  rssVsTini: number | null;
  anonVsTini: number | null;
  anonVsSupervisord: number | null;
  pssVsTini: number | null;
  rssVsSupervisord: number | null;
  pssVsSupervisord: number | null;
}

export function memoryRatios(results: readonly MemoryResult[]): MemoryRatios {
  const of = (id: string) => results.find((r) => r.id === id);
  const p = of('pidvisor-init');
  return {
    pidvisorInitRss: p?.vmRss ?? null,
    rssVsDumbInit: ratio(p?.vmRss, of('dumb-init')?.vmRss),
    rssVsTini: ratio(p?.vmRss, of('tini')?.vmRss),
    anonVsTini: ratio(p?.rssAnon, of('tini')?.rssAnon),
    anonVsSupervisord: ratio(p?.rssAnon, of('supervisord')?.rssAnon),
    pssVsTini: ratio(p?.pss, of('tini')?.pss),
    rssVsSupervisord: ratio(p?.vmRss, of('supervisord')?.vmRss),
    pssVsSupervisord: ratio(p?.pss, of('supervisord')?.pss),
  };
}

export function formatMemory(results: readonly MemoryResult[], ratios: MemoryRatios, sleepSeconds: number): string {
  const rows = results.map((r) => [
    r.label,
    mib(r.vmRss),
    mib(r.pss),
    mib(r.rssAnon),
    mib(r.rssFile),
    mib(r.vmHwm),
    `${r.rounds.filter((x) => x.error === null).length}/${r.rounds.length}`,
  ]);
  return [
    `Memory of the init as PID 1 while \`sleep ${sleepSeconds}\` runs (MiB, medians over rounds; VmHWM = peak since start;`,
    'Pss splits shared pages among their users on this host, e.g. the node binary with the bench itself: in a container',
    'whose only Node process is the init, its Pss is close to its VmRSS)',
    table(['init process', 'VmRSS', 'Pss', 'RssAnon', 'RssFile', 'VmHWM', 'ok'], rows),
    '',
    `pidvisor-init VmRSS:          ${mib(ratios.pidvisorInitRss)} MiB (target <= 2 MiB)`,
    `pidvisor-init vs tini:        VmRSS ${times(ratios.rssVsTini)}, Pss ${times(ratios.pssVsTini)}, RssAnon ${times(ratios.anonVsTini)}`,
    `pidvisor-init vs dumb-init:   VmRSS ${times(ratios.rssVsDumbInit)}`,
    `pidvisor-init vs supervisord: VmRSS ${times(ratios.rssVsSupervisord)}, Pss ${times(ratios.pssVsSupervisord)}, RssAnon ${times(ratios.anonVsSupervisord)}`,
  ].join('\n');
}

export function formatImports(inventory: Inventory, timing: ImportTiming | null, profile: ProfileResult | null): string {
  const out: string[] = [];
  out.push(
    `Modules loaded by the Node init with services (\`pidvisor init --config EMPTY -- /bin/true\`, no keeper): ${inventory.totalFiles} files, ${(inventory.totalBytes / 1024).toFixed(0)} KiB of source, ${inventory.builtins} of Node's builtin modules (internal ones included)${inventory.ok ? '' : ` (the run failed: ${inventory.detail})`}`,
    table(
      ['package', 'files', 'KiB'],
      inventory.packages.slice(0, 15).map((p) => [p.name, String(p.files), (p.bytes / 1024).toFixed(0)]),
    ),
  );
  if (timing !== null) {
    out.push(
      '',
      'import() cost, each alone in a fresh process (whole graph; these overlap) (ms, RSS growth MiB)',
      table(['module', 'ms', 'RSS +MiB'], timing.alone.map((c) => [c.spec, ms(c.ms), mib(c.rssDelta)])),
      '',
      `import() along the init path in one process, each step paying only for what is new (total ${ms(timing.pathTotalMs)} ms)`,
      table(['step', 'ms', 'RSS +MiB'], timing.alongPath.map((c) => [c.spec, ms(c.ms), mib(c.rssDelta)])),
    );
    if (timing.failures.length > 0) out.push(`import probe failures: ${timing.failures.length}; first: ${timing.failures[0]}`);
  }
  if (profile !== null) {
    out.push(
      '',
      `CPU profile of loading the init path (import of api/cli/main.js, then commands/init.js) (self ms, median of ${profile.runs} runs; profiled span ${ms(profile.profiledMs)} ms after Node's bootstrap)`,
      table(['where', 'self ms'], profile.groups.slice(0, 14).map((g) => [g.name, ms(g.selfMs)])),
      '',
      'The functions with the most self time in that profile',
      table(['function', 'self ms'], profile.functions.slice(0, 12).map((g) => [g.name, ms(g.selfMs)])),
    );
    if (profile.failures.length > 0) out.push(`profile failures: ${profile.failures.length}; first: ${profile.failures[0]}`);
  }
  return out.join('\n');
}
