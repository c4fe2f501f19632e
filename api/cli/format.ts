// Human-readable output: aligned tables, short durations and sizes, resource usage.
import type { ExitRecord, ServiceInfo } from '../supervisor-api.js';
import { describeDependencies } from './format-dependencies.js';
import { palette, paintState, type Palette } from './colour.js';

/** How a cell is coloured: given its column and its padded text (colour codes take no room in the alignment). */
export type CellStyle = (column: number, padded: string, row: string[]) => string;

export function table(headers: string[], rows: string[][], style?: CellStyle, headerStyle?: (line: string) => string): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[], paint: CellStyle | undefined): string =>
    cells
      .map((cell, i) => {
        const padded = i === cells.length - 1 ? cell : cell.padEnd(widths[i]!);
        return paint === undefined ? padded : paint(i, padded, cells);
      })
      .join('  ')
      .trimEnd();
  const head = line(headers, undefined);
  return [headerStyle === undefined ? head : headerStyle(head), ...rows.map((row) => line(row, style))].join('\n');
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

/**
 * The last exit and how long ago it was: while a new instance runs, the last exit is that of
 * an earlier one (or an earlier attempt that could not start), and says so by its age.
 */
export function describeExit(exit: ExitRecord | null, now = Date.now()): string {
  if (exit === null) return '-';
  const ago = `${duration(Math.max(0, now - Date.parse(exit.endedAt)))} ago`;
  if (exit.reason === 'spawn-failed') {
    const about = exit.error?.path == null ? '' : ` ${JSON.stringify(exit.error.path)}`;
    return `could not start: ${exit.error?.code ?? '?'} at ${exit.error?.stage ?? '?'}${about}, ${ago}`;
  }
  const how = exit.signal !== null ? `${exit.signal}${exit.coreDumped ? ' (core dumped)' : ''}` : `code ${exit.code}`;
  return `${how}, ${exit.reason} ${ago}`;
}

/** The last instance's own peak memory and where it comes from, or why it is unknown. */
export function describePeakMemory(exit: ExitRecord | null): string {
  const usage = exit?.rusage ?? null;
  if (usage === null) return '-';
  if (usage.maxRssKiB === null) return `unknown: ${usage.maxRssUnavailable ?? 'no reason given'}`;
  return `${(usage.maxRssKiB / 1024).toFixed(1)} MiB (${usage.maxRssSource ?? '?'})`;
}

/** What was written of the captured output, and what was lost and why. */
export function describeLogs(logs: ServiceInfo['logs']): string {
  if (logs === null) return 'not captured';
  const written = `${bytes(logs.writtenBytes)} written`;
  if (logs.droppedBytes === 0 && !logs.failing) return written;
  const dropped = `${bytes(logs.droppedBytes)} dropped (${logs.droppedRecords} records)`;
  return `${written}, ${dropped}; ${logs.failing ? 'writes failing' : 'last failure'}: ${logs.lastError ?? 'unknown error'}`;
}

export function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  if (count < 1 << 20) return `${(count / 1024).toFixed(1)} KiB`;
  return `${(count / (1 << 20)).toFixed(1)} MiB`;
}

/** A size in a column: 812K, 201.6M, 1.2G (binary units). */
export function shortBytes(count: number | null): string {
  if (count === null) return '-';
  if (count < 1 << 20) return `${Math.round(count / 1024)}K`;
  if (count < 1 << 30) return `${(count / (1 << 20)).toFixed(1)}M`;
  return `${(count / (1 << 30)).toFixed(1)}G`;
}

/** CPU % of one core, or '-' when not known (nothing runs, or too young to tell). */
export function cpuPercent(usage: ServiceInfo['usage']): string {
  return usage?.cpuPercent == null ? '-' : usage.cpuPercent.toFixed(1);
}

/** The usage rows of `status` and `show`. */
export function describeUsage(usage: ServiceInfo['usage'], now = Date.now()): Array<[string, string]> {
  if (usage == null) return [['usage', '-']];
  const age = Math.max(0, now - Date.parse(usage.sampledAt));
  return [
    ['cpu', `${usage.cpuPercent === null ? '-' : `${usage.cpuPercent.toFixed(1)}%`} of a core now, ${duration(usage.cpuUsec / 1000)} in all`],
    ['memory', usage.memoryBytes === null ? '-' : `${bytes(usage.memoryBytes)} (${usage.memorySource === 'memory.current' ? "its cgroup's memory.current" : 'summed RSS of its processes'})`],
    ['tasks', usage.tasks === null ? '-' : String(usage.tasks)],
    ['open fds', usage.fds === null ? '-' : String(usage.fds)],
    ['sampled', `${duration(age)} ago`],
  ];
}

export function processTable(processes: ServiceInfo[], now = Date.now(), colours: Palette = palette(false)): string {
  return table(
    ['ID', 'NAME', 'STATE', 'READY', 'HEALTH', 'PID', 'CPU%', 'MEM', 'RESTARTS', 'UPTIME', 'LAST EXIT', 'STATUS', 'COMMAND'],
    processes.map((p) => [
      p.id,
      p.name ?? '-',
      p.state,
      readyColumn(p.state),
      p.health === 'unknown' ? '-' : p.health,
      p.pid === null ? '-' : String(p.pid),
      cpuPercent(p.usage),
      shortBytes(p.usage?.memoryBytes ?? null),
      String(p.restarts),
      p.startedAt === null ? '-' : duration(now - Date.parse(p.startedAt)),
      describeExit(p.exit, now),
      p.statusText === null ? '-' : clip(p.statusText, 40),
      p.command.join(' '),
    ]),
    (column, padded, row) => (column === 2 ? padded.replace(row[2]!, paintState(colours, row[2]!)) : padded),
    colours.bold,
  );
}

// `running` is ready (a readiness probe passed, READY=1, or the start grace period ended).
function readyColumn(state: ServiceInfo['state']): string {
  if (state === 'running') return 'yes';
  return state === 'starting' ? 'no' : '-';
}

function clip(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

/** A probe's counts and last result, for `show`. */
function describeProbe(probe: ServiceInfo['probes']['readiness']): string {
  if (probe === null) return '-';
  const last = probe.lastResult === null ? 'no check yet' : `last ${probe.lastResult}: ${probe.lastDetail ?? ''}`;
  return `${probe.probe}: ${probe.successes} passed, ${probe.failures} failed; ${last}`;
}

export function processDetails(p: ServiceInfo, now = Date.now(), colours: Palette = palette(false)): string {
  const rows: Array<[string, string]> = [
    ['id', p.id],
    ['name', p.name ?? '-'],
    ['state', `${paintState(colours, p.state)} (${p.reason})`],
    ['pid', p.pid === null ? '-' : String(p.pid)],
    ['instance', p.instance ?? '-'],
    ['uptime', p.startedAt === null ? '-' : `${duration(now - Date.parse(p.startedAt))} (since ${p.startedAt})`],
    ['restarts', String(p.restarts)],
    ['health', p.health],
    ['status', p.statusText ?? '-'],
    ['readiness', describeProbe(p.probes.readiness)],
    ['liveness', describeProbe(p.probes.liveness)],
    ...describeUsage(p.usage, now),
    ['last exit', describeExit(p.exit, now)],
    ['peak memory', describePeakMemory(p.exit)],
    ['logs', describeLogs(p.logs)],
    ['kill mode', p.killMode],
    ['command', p.command.join(' ')],
  ];
  // Older daemons send no dependencies.
  if ((p.dependencies ?? []).length > 0) rows.push(['needs', describeDependencies(p.dependencies)]);
  for (const [key, value] of Object.entries(p.labels)) rows.push([`label ${key}`, value]);
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n');
}
