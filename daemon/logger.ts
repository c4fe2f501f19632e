// The daemon's own structured log (pino, JSON lines on stderr). Services get child loggers
// with { service, id }. Environment values are never logged: an `env` member is replaced
// wherever it appears at the top of a record or one level down (a spec, a definition).
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

const REDACTED = '[redacted]';

// pino (about 30 CommonJS files, and node:worker_threads, assert and events with them) is
// loaded when a logger is made, not with this module: an init that logs nothing at its level
// (createLazyLogger) never loads it. require(), not import(): callers need the logger now.
const require = createRequire(import.meta.url);

export function createLogger(level = process.env.PIDVISOR_LOG_LEVEL ?? 'info'): Logger {
  const pino = require('pino') as typeof import('pino');
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

const LEVEL_VALUES: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
type LineMethod = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/**
 * createLogger's logger, made (and pino loaded) at the first line at or above `level`: `pidvisor
 * init` logs at warn, and a run that goes well writes no line; loading pino was ~10 ms of its
 * CPU (bench/init). It answers what the daemon's code asks of a logger: the six line methods
 * and child(); a logger handed to fastify (the API) must be createLogger's own.
 */
export function createLazyLogger(level: string): Logger {
  const threshold = LEVEL_VALUES[level];
  if (threshold === undefined) throw new Error(`unknown log level ${JSON.stringify(level)} (one of ${Object.keys(LEVEL_VALUES).join(', ')})`);
  return new LazyLogger(threshold, () => createLogger(level)) as unknown as Logger;
}

class LazyLogger {
  readonly #threshold: number;
  readonly #make: () => Logger;
  #real: Logger | null = null;

  constructor(threshold: number, make: () => Logger) {
    this.#threshold = threshold;
    this.#make = make;
  }

  trace(...args: unknown[]): void {
    this.#line('trace', args);
  }
  debug(...args: unknown[]): void {
    this.#line('debug', args);
  }
  info(...args: unknown[]): void {
    this.#line('info', args);
  }
  warn(...args: unknown[]): void {
    this.#line('warn', args);
  }
  error(...args: unknown[]): void {
    this.#line('error', args);
  }
  fatal(...args: unknown[]): void {
    this.#line('fatal', args);
  }

  child(bindings: Record<string, unknown>): LazyLogger {
    return new LazyLogger(this.#threshold, () => this.#logger().child(bindings));
  }

  #logger(): Logger {
    this.#real ??= this.#make();
    return this.#real;
  }

  #line(method: LineMethod, args: unknown[]): void {
    if (LEVEL_VALUES[method]! < this.#threshold) return;
    (this.#logger()[method] as (...line: unknown[]) => void)(...args);
  }
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
