// Numbers as an operator reads them. A figure the daemon does not give (yet) shows as "-".

export const NONE = '-';

export function bytes(value) {
  if (typeof value !== 'number') return NONE;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let unit = 0;
  let scaled = value;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return `${scaled >= 100 || unit === 0 ? Math.round(scaled) : scaled.toFixed(1)} ${units[unit]}`;
}

export function percent(value) {
  return typeof value === 'number' ? `${value.toFixed(1)}%` : NONE;
}

export function duration(ms) {
  if (typeof ms !== 'number' || ms < 0) return NONE;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

export function clock(iso) {
  if (typeof iso !== 'string') return NONE;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? NONE : date.toLocaleTimeString();
}

export function dateTime(iso) {
  if (typeof iso !== 'string') return NONE;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? NONE : date.toLocaleString();
}

/** How long the current instance has run: the daemon's figure, else from its start time. */
export function uptime(process, now = Date.now()) {
  if (typeof process.usage?.uptimeMs === 'number') return duration(process.usage.uptimeMs);
  if (typeof process.startedAt !== 'string' || process.pid === null) return NONE;
  return duration(now - new Date(process.startedAt).getTime());
}

/** An exit as one phrase: "exit 1", "SIGKILL (core dumped)", "spawn failed: ENOENT". */
export function exitText(exit) {
  if (exit === null || exit === undefined) return NONE;
  if (exit.reason === 'spawn-failed') return `spawn failed${exit.error ? `: ${exit.error.code} at ${exit.error.stage}` : ''}`;
  const how = exit.signal !== null ? exit.signal : `exit ${exit.code}`;
  return `${how}${exit.coreDumped ? ' (core dumped)' : ''}, ${exit.reason}`;
}
