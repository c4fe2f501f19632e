// logLine: reads the instance's captured output as it comes. Readiness passes once any line
// has matched since the instance started (and is told at once, not at the next period);
// liveness needs a new matching line in every period, a heartbeat.
import type { LogRecord, ServiceLogs } from '../logs/service-logs.js';
import type { Checker, CheckResult } from './check.js';

export class LogLineChecker implements Checker {
  readonly #pattern: RegExp;
  readonly #role: 'readiness' | 'liveness';
  #unfollow: (() => void) | null;
  #matched = false;
  #lastLine = '';

  /** `onMatch`: called at the first match after each check, so a waiting probe can check now. */
  constructor(logs: ServiceLogs, pattern: RegExp, stream: 'stdout' | 'stderr' | 'any', role: 'readiness' | 'liveness', onMatch: () => void) {
    this.#pattern = pattern;
    this.#role = role;
    this.#unfollow = logs.follow((record: LogRecord) => {
      if (stream !== 'any' && record.stream !== stream) return;
      // A partial record (a line cut at maxLineBytes, or not ended yet) is matched as it is.
      const line = record.data.toString('utf8');
      if (!this.#pattern.test(line)) return;
      const first = !this.#matched;
      this.#matched = true;
      this.#lastLine = line.length > 200 ? `${line.slice(0, 200)}...` : line;
      if (first) onMatch();
    });
  }

  async run(): Promise<CheckResult> {
    const matched = this.#matched;
    if (this.#role === 'liveness') this.#matched = false;
    if (matched) return { ok: true, detail: `matched: ${this.#lastLine}` };
    return { ok: false, detail: this.#role === 'liveness' ? `no line matched /${this.#pattern.source}/ in the last period` : `no line has matched /${this.#pattern.source}/ yet` };
  }

  close(): void {
    this.#unfollow?.();
    this.#unfollow = null;
  }
}
