// The daemon's own structured log (pino, JSON lines on stderr). Services get child loggers
// with { service, id }. Environment values are never logged: an `env` member is replaced
// wherever it appears at the top of a record or one level down (a spec, a definition).
import pino, { type Logger } from 'pino';

const REDACTED = '[redacted]';

export function createLogger(level = process.env.PIDVISOR_LOG_LEVEL ?? 'info'): Logger {
  // Lines are gathered and written synchronously in blocks of 4 KiB, and at the latest every
  // 100 ms: a batch of 200 launches and their stops wrote 400 lines, one write(2) each. What
  // is gathered is written before the process exits, so a fatal error logged just before
  // exit still reaches the file; a SIGKILL loses at most the last 100 ms.
  const destination = pino.destination({ fd: 2, sync: true, minLength: 4096, periodicFlush: 100 });
  process.once('exit', () => destination.flushSync());
  return pino(
    {
      level,
      // `pid` in a record is a service's process; the daemon's own is `daemonPid`.
      base: { daemonPid: process.pid },
      // A plain loop over the record's members: pino's `redact` with wildcard paths cost
      // about 20 us a line here, more than the rest of the line.
      formatters: { log: withoutEnvironment },
    },
    destination,
  );
}

function withoutEnvironment(record: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | null = null;
  for (const key of Object.keys(record)) {
    const value = record[key];
    let replacement: unknown = value;
    if (key === 'env') replacement = REDACTED;
    else if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, 'env')) {
      replacement = { ...(value as Record<string, unknown>), env: REDACTED };
    }
    if (replacement !== value) {
      copy ??= { ...record };
      copy[key] = replacement;
    }
  }
  return copy ?? record;
}
