// What one instance has said through sd_notify, and its watchdog. The protocol's meaning is
// here; what the service does about it (ready, killed, a new main process) is the host's.
import { closeReceivedFds } from '../../native/index.js';
import { parseMicros, parsePid, type NotifyFields } from './notify-message.js';

export interface NotifyHost {
  /** READY=1. */
  ready(): void;
  /** STATUS= changed. */
  status(text: string): void;
  /** No WATCHDOG=1 within the period, or WATCHDOG=trigger. */
  watchdogFailed(detail: string): void;
  /** EXTEND_TIMEOUT_USEC=: the start or stop under way may take this much longer from now. */
  extendTimeout(ms: number): void;
  /** MAINPID=: the host checks it belongs to the instance. */
  mainPid(pid: number): void;
  /** MAINPIDFD=1 with a pidfd (the host owns it from here). */
  mainPidfd(fd: number): void;
}

export interface NotifyStatus {
  reloading: boolean;
  /** MONOTONIC_USEC= of the last RELOADING=1 (CLOCK_MONOTONIC), as the service sent it. */
  reloadMonotonicUsec: number | null;
  stopping: boolean;
  /** ERRNO=: the error the service reported, as a number. */
  errno: number | null;
  /** The watchdog period now (watchdogMs, or what WATCHDOG_USEC= set); null when off. */
  watchdogMs: number | null;
  lastWatchdogAt: string | null;
}

export class InstanceNotify {
  readonly #host: NotifyHost;
  readonly status: NotifyStatus;
  #statusText: string | null = null;
  #watchdogTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(watchdogMs: number | null, host: NotifyHost) {
    this.#host = host;
    this.status = { reloading: false, reloadMonotonicUsec: null, stopping: false, errno: null, watchdogMs, lastWatchdogAt: null };
    this.#armWatchdog();
  }

  get statusText(): string | null {
    return this.#statusText;
  }

  /** One accepted datagram; closes the fds it does not hand on. */
  handle(fields: NotifyFields, fds: number[]): void {
    if (this.#closed) {
      closeReceivedFds(fds);
      return;
    }
    const status = this.status;
    let passedPidfd = false;
    const text = fields.get('STATUS');
    if (text !== undefined && text !== this.#statusText) {
      this.#statusText = text;
      this.#host.status(text);
    }
    const errno = fields.get('ERRNO');
    if (errno !== undefined && /^[0-9]{1,4}$/.test(errno)) status.errno = Number(errno);
    if (fields.get('RELOADING') === '1') {
      status.reloading = true;
      status.reloadMonotonicUsec = parseMicros(fields.get('MONOTONIC_USEC'));
    }
    if (fields.get('STOPPING') === '1') status.stopping = true;
    const watchdogUsec = parseMicros(fields.get('WATCHDOG_USEC'));
    if (watchdogUsec !== null && watchdogUsec > 0) {
      status.watchdogMs = Math.max(1, Math.round(watchdogUsec / 1000));
      this.#armWatchdog();
    }
    const watchdog = fields.get('WATCHDOG');
    if (watchdog === '1') {
      status.lastWatchdogAt = new Date().toISOString();
      this.#armWatchdog();
    }
    const extend = parseMicros(fields.get('EXTEND_TIMEOUT_USEC'));
    if (extend !== null) this.#host.extendTimeout(Math.ceil(extend / 1000));
    const mainPid = parsePid(fields.get('MAINPID'));
    if (fields.get('MAINPIDFD') === '1' && fds.length > 0) {
      passedPidfd = true;
      this.#host.mainPidfd(fds[0]!);
    } else if (mainPid !== null) {
      this.#host.mainPid(mainPid);
    }
    closeReceivedFds(passedPidfd ? fds.slice(1) : fds);
    if (fields.get('READY') === '1') {
      status.reloading = false;
      this.#host.ready();
    }
    // Last: the host kills the instance, and nothing after it may act on it.
    if (watchdog === 'trigger') this.#host.watchdogFailed('sd_notify WATCHDOG=trigger');
  }

  /** The instance is being stopped: a stop is not a watchdog failure. */
  stopWatchdog(): void {
    clearTimeout(this.#watchdogTimer);
    this.status.watchdogMs = null;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#watchdogTimer);
  }

  #armWatchdog(): void {
    clearTimeout(this.#watchdogTimer);
    const period = this.status.watchdogMs;
    if (period === null || this.#closed) return;
    this.#watchdogTimer = setTimeout(() => {
      if (!this.#closed) this.#host.watchdogFailed(`missed its sd_notify watchdog: no WATCHDOG=1 within ${period} ms`);
    }, period);
  }
}
