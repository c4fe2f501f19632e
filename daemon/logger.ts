// The daemon's own structured log (pino, JSON lines on stderr). Services get child loggers
// with { service, id }. Environment values are never logged: a spec's env is redacted
// wherever it appears.
import pino, { type Logger } from 'pino';

export function createLogger(level = process.env.PIDVISOR_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      // `pid` in a record is a service's process; the daemon's own is `daemonPid`.
      base: { daemonPid: process.pid },
      redact: { paths: ['env', '*.env', 'spec.env', '*.spec.env', 'definition.env'], censor: '[redacted]' },
    },
    // Synchronous: a fatal error logged just before exit must reach the file.
    pino.destination({ fd: 2, sync: true }),
  );
}
