// Tells people that a service's captured output is being lost. The writer drops what the disk
// refuses (ENOSPC, EROFS, EIO) so that a full disk never stops a service; this makes the loss
// visible: a line in the daemon's log and an event at the start of a run of failures, and a
// line when writes succeed again. The byte counts are in the process's status and /metrics.
//
// A disk at the edge of full fails and recovers many times a second (a record that fits, then
// one that does not): at most one failure report goes out per interval and service, and the
// runs in between are summed up in one line at the end of the interval.
import type { Logger } from 'pino';
import type { EventLog } from '../events.js';
import type { LogStats } from './service-logs.js';

export const REPORT_INTERVAL_MS = 60_000;

export interface WriteFailureReportOptions {
  /** The service's own logger (bindings { service, id }). */
  logger: Logger;
  events: EventLog;
  service: { id: string; name: string | null };
  /** The service's log file, named in the lines. */
  file: string;
  intervalMs?: number;
  /** A monotonic clock in ms; injectable for tests. */
  now?: () => number;
}

/** The onError and onRecovered callbacks of a service's ServiceLogs. */
export interface WriteFailureReport {
  onError(error: Error, stats: LogStats): void;
  onRecovered(stats: LogStats): void;
}

export function reportWriteFailures(options: WriteFailureReportOptions): WriteFailureReport {
  const { logger, events, service, file } = options;
  const intervalMs = options.intervalMs ?? REPORT_INTERVAL_MS;
  const now = options.now ?? (() => performance.now());
  let lastReportAt = -Infinity;
  /** Whether the current run of failures was reported (then its end is too). */
  let runReported = false;
  /** Runs not reported since the last report, and the newest error among them. */
  let unreported: { runs: number; error: Error; stats: LogStats } | null = null;
  let timer: NodeJS.Timeout | null = null;

  const report = (error: Error, stats: LogStats, runs: number): void => {
    lastReportAt = now();
    const details = {
      err: { code: (error as NodeJS.ErrnoException).code ?? null, message: error.message },
      file,
      droppedBytes: stats.droppedBytes,
      droppedRecords: stats.droppedRecords,
      ...(runs > 1 ? { failureRuns: runs } : {}),
    };
    logger.warn(details, runs > 1 ? `log writes failed ${runs} times; captured output was dropped` : 'log writes failing; captured output is being dropped');
    events.append({
      type: 'log-write-failed',
      service,
      reason: error.message,
      logs: { file, droppedBytes: stats.droppedBytes, droppedRecords: stats.droppedRecords, writeFailures: stats.writeFailures },
    });
  };

  const flushUnreported = (): void => {
    timer = null;
    if (unreported === null) return;
    const { runs, error, stats } = unreported;
    unreported = null;
    report(error, stats, runs);
  };

  return {
    onError(error, stats) {
      const sinceLast = now() - lastReportAt;
      runReported = sinceLast >= intervalMs;
      if (runReported) {
        report(error, stats, 1);
        return;
      }
      unreported = { runs: (unreported?.runs ?? 0) + 1, error, stats };
      if (timer === null) {
        timer = setTimeout(flushUnreported, intervalMs - sinceLast);
        timer.unref(); // a pending summary must not keep the daemon alive
      }
    },
    onRecovered(stats) {
      if (!runReported) return;
      runReported = false;
      logger.info({ file, droppedBytes: stats.droppedBytes, droppedRecords: stats.droppedRecords }, 'log writes succeed again');
    },
  };
}
