// The sd_notify socket of one service: where its instances' NOTIFY_SOCKET points. Every
// datagram is checked before anything in it counts: bounded in size, rate-limited, well
// formed, and sent by a process of the current instance (its cgroup, or the session its main
// process leads) as the kernel's credentials say. Others are dropped and counted, never fatal.
import { closeReceivedFds, NotifySocket, type NotifyDatagram } from '../../native/index.js';
import { parseNotifyMessage, type NotifyFields } from './notify-message.js';

/** As systemd's NOTIFY_BUFFER_MAX (PIPE_BUF): longer datagrams are refused. */
export const NOTIFY_MAX_BYTES = 4096;
/** Token bucket: a burst of this many datagrams, refilled at RATE_PER_SECOND. */
const BURST = 200;
const RATE_PER_SECOND = 100;
/** Datagrams read per wake-up: a flood waits its turn instead of holding the event loop. */
const READS_PER_WAKE = 64;

export interface NotifyCounters {
  received: number;
  accepted: number;
  /** From a process outside the current instance (or when no instance runs, or without credentials). */
  foreign: number;
  malformed: number;
  oversize: number;
  rateLimited: number;
}

export interface NotifySender {
  pid: number;
  uid: number;
  /** The sender's cgroup v2 id, 0n when the kernel could not say. */
  cgroupId: bigint;
}

export interface NotifyHandler {
  /** Whether `sender` is a process of the current instance. */
  isOwnSender(sender: NotifySender): boolean;
  /** A datagram from the instance: its fields, and the fds it passed (the handler owns them). */
  onMessage(fields: NotifyFields, fds: number[], sender: NotifySender): void;
}

export class NotifyEndpoint {
  readonly #socket: NotifySocket;
  readonly #handler: NotifyHandler;
  readonly counters: NotifyCounters = { received: 0, accepted: 0, foreign: 0, malformed: 0, oversize: 0, rateLimited: 0 };
  #tokens = BURST;
  #refilledAt = Date.now();

  constructor(socket: NotifySocket, handler: NotifyHandler) {
    this.#socket = socket;
    this.#handler = handler;
    socket.watch(() => this.#drain());
  }

  get path(): string {
    return this.#socket.path;
  }

  close(options: { unlink?: boolean } = {}): void {
    this.#socket.close(options);
  }

  #drain(): void {
    for (let i = 0; i < READS_PER_WAKE; i++) {
      const datagram = this.#socket.receive(NOTIFY_MAX_BYTES);
      if (datagram === null) return;
      this.#take(datagram);
    }
  }

  #take(datagram: NotifyDatagram): void {
    const counters = this.counters;
    counters.received++;
    let keptFds = false;
    try {
      if (!this.#withinRate()) {
        counters.rateLimited++;
        return;
      }
      if (datagram.truncated) {
        counters.oversize++;
        return;
      }
      const sender: NotifySender = { pid: datagram.pid, uid: datagram.uid, cgroupId: datagram.senderCgroupId };
      if (sender.pid <= 0 || !this.#handler.isOwnSender(sender)) {
        counters.foreign++;
        return;
      }
      const fields = parseNotifyMessage(datagram.message);
      if (fields === null) {
        counters.malformed++;
        return;
      }
      counters.accepted++;
      keptFds = true;
      this.#handler.onMessage(fields, datagram.fds, sender);
    } finally {
      if (!keptFds) closeReceivedFds(datagram.fds);
    }
  }

  #withinRate(): boolean {
    const now = Date.now();
    this.#tokens = Math.min(BURST, this.#tokens + ((now - this.#refilledAt) * RATE_PER_SECOND) / 1000);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }
}
