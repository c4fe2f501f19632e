// Every state change of every service, with a monotonic sequence number, kept in a bounded
// ring so a subscriber that reconnects can resume from the last number it saw.

export interface SupervisorEvent {
  seq: number;
  time: string;
  type: 'state' | 'created' | 'removed' | 'spawn-failed' | 'exit' | 'log-write-failed' | 'reloaded' | 'ready' | 'health' | 'status';
  service: { readonly id: string; readonly name: string | null };
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

// The ring keeps what each event is made of, not the event: the caller's input object as given
// (its service reference is shared by all of that service's events) and the time as a number.
// The public event - seq, an ISO time string, then the input's fields in their order - is built
// when it is delivered or read back, and is byte for byte what it would have been when kept
// whole. Reasons equal to a recent one are kept once. Kept whole, a full ring (10,000 events:
// about 7 rounds of 200 services started and removed) held ~250 bytes an event; a record holds
// less than half of that, the difference being the event object itself and its 24-character
// time string.
const REASONS_REMEMBERED = 256;

export class EventLog {
  readonly #capacity: number;
  /** Oldest first from #oldest, wrapping: a circular buffer, so a full ring drops in O(1). */
  readonly #inputs: EventInput[] = [];
  /** Date.now() of each event, at the same index (a plain array of doubles: 8 bytes each). */
  readonly #times: number[] = [];
  #oldest = 0;
  /** One copy of each recent reason: most are built anew per event from a few templates ("running for 1000 ms"). */
  readonly #reasons = new Map<string, string>();
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

  /** Keeps `input` itself (its reason may be swapped for an equal kept string): not to be changed after. */
  append(input: EventInput): SupervisorEvent {
    const seq = ++this.#seq;
    const time = Date.now();
    if (input.reason !== undefined) input.reason = this.#sameReason(input.reason);
    if (this.#inputs.length < this.#capacity) {
      this.#inputs.push(input);
      this.#times.push(time);
    } else {
      this.#inputs[this.#oldest] = input;
      this.#times[this.#oldest] = time;
      this.#oldest = (this.#oldest + 1) % this.#capacity;
    }
    const event = eventOf(seq, time, input);
    for (const listener of this.#listeners) listener(event);
    return event;
  }

  /** Events with seq > afterSeq, oldest first. */
  since(afterSeq: number): SupervisorEvent[] {
    const kept = this.#inputs.length;
    const oldestSeq = this.#seq - kept + 1;
    const skip = Math.max(0, afterSeq + 1 - oldestSeq);
    const events: SupervisorEvent[] = [];
    for (let i = skip; i < kept; i++) {
      const at = (this.#oldest + i) % kept;
      events.push(eventOf(oldestSeq + i, this.#times[at]!, this.#inputs[at]!));
    }
    return events;
  }

  /** An equal reason kept before, or this one (the table is bounded: emptied when full). */
  #sameReason(reason: string): string {
    const kept = this.#reasons.get(reason);
    if (kept !== undefined) return kept;
    if (this.#reasons.size >= REASONS_REMEMBERED) this.#reasons.clear();
    this.#reasons.set(reason, reason);
    return reason;
  }

  /**
   * Backlog after `afterSeq`, then every new event to `listener`, in order with no gap and
   * no repeat (appends are synchronous, so nothing can slip between the two).
   */
  subscribe(afterSeq: number, listener: (event: SupervisorEvent) => void): Subscription {
    const backlog = this.since(afterSeq);
    const oldest = this.#seq - this.#inputs.length + 1;
    this.#listeners.add(listener);
    return {
      backlog,
      gap: afterSeq + 1 < oldest && afterSeq < this.#seq,
      unsubscribe: () => this.#listeners.delete(listener),
    };
  }
}

function eventOf(seq: number, time: number, input: EventInput): SupervisorEvent {
  // Date.now() and new Date().toISOString() are both whole milliseconds: the same text.
  return { seq, time: new Date(time).toISOString(), ...input };
}
