// Every state change of every service, with a monotonic sequence number, kept in a bounded
// ring so a subscriber that reconnects can resume from the last number it saw.

export interface SupervisorEvent {
  seq: number;
  time: string;
  type: 'state' | 'created' | 'removed' | 'spawn-failed' | 'exit' | 'log-write-failed' | 'reloaded' | 'ready' | 'health' | 'status';
  service: { id: string; name: string | null };
  /** For 'state': the change. */
  from?: string;
  to?: string;
  reason?: string;
  pid?: number | null;
  instance?: string | null;
  exit?: unknown;
  /** For 'log-write-failed': the file, and what has been lost so far. */
  logs?: { file: string; droppedBytes: number; droppedRecords: number; writeFailures: number };
  /** For 'reloaded': the fields of its config entry that changed (restart.policy, env.PATH). */
  changed?: string[];
  /** For 'health': the new health of the instance (its reason says which probe and how). */
  health?: 'healthy' | 'unhealthy';
  /** For 'status': the instance's sd_notify STATUS= text. */
  statusText?: string | null;
}

export type EventInput = Omit<SupervisorEvent, 'seq' | 'time'>;

export interface Subscription {
  /** Events already in the ring after the requested sequence number. */
  backlog: SupervisorEvent[];
  /** True when events the subscriber asked for have already left the ring. */
  gap: boolean;
  unsubscribe(): void;
}

export class EventLog {
  readonly #capacity: number;
  readonly #ring: SupervisorEvent[] = [];
  readonly #listeners = new Set<(event: SupervisorEvent) => void>();
  #seq = 0;

  /** `afterSeq`: the first event is numbered after it (a daemon continuing a dead one's sequence). */
  constructor(capacity = 10_000, afterSeq = 0) {
    this.#capacity = capacity;
    this.#seq = afterSeq;
  }

  /** Sequence number of the newest event (0 before any). */
  get lastSeq(): number {
    return this.#seq;
  }

  append(input: EventInput): SupervisorEvent {
    const event: SupervisorEvent = { seq: ++this.#seq, time: new Date().toISOString(), ...input };
    this.#ring.push(event);
    if (this.#ring.length > this.#capacity) this.#ring.shift();
    for (const listener of this.#listeners) listener(event);
    return event;
  }

  /** Events with seq > afterSeq, oldest first. */
  since(afterSeq: number): SupervisorEvent[] {
    const first = this.#ring[0];
    if (first === undefined || afterSeq >= this.#seq) return [];
    const start = Math.max(0, afterSeq + 1 - first.seq);
    return this.#ring.slice(start);
  }

  /**
   * Backlog after `afterSeq`, then every new event to `listener`, in order with no gap and
   * no repeat (appends are synchronous, so nothing can slip between the two).
   */
  subscribe(afterSeq: number, listener: (event: SupervisorEvent) => void): Subscription {
    const backlog = this.since(afterSeq);
    const oldest = this.#ring[0]?.seq ?? this.#seq + 1;
    this.#listeners.add(listener);
    return {
      backlog,
      gap: afterSeq + 1 < oldest && afterSeq < this.#seq,
      unsubscribe: () => this.#listeners.delete(listener),
    };
  }
}
