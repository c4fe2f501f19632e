// Turns the supervisor's events into state-store records, as they happen: every event is
// appended synchronously by the EventLog, so the journal never lags what the API has
// answered. Nothing in the supervisor knows about persistence.
import type { Logger } from 'pino';
import { pidfsHandleOf, type PidfsHandle, type ProcessRef } from '../native/index.js';
import { bootId } from './boot-id.js';
import type { SupervisorEvent } from './events.js';
import { spawnedOutputPipe } from './output-reopen.js';
import type { Service } from './service.js';
import type { ExitRecord } from './service.js';
import type { PersistedInstance, StateStore } from './state-store.js';
import type { Supervisor } from './supervisor.js';

// Sequence numbers are reserved a block at a time, so that only one event in SEQ_BLOCK costs
// a record of its own; a daemon that takes over starts after the block (a gap, never a
// number given twice).
export const SEQ_BLOCK = 1000;

export class StateRecorder {
  readonly #store: StateStore;
  readonly #supervisor: Supervisor;
  readonly #logger: Logger;
  #unsubscribe: (() => void) | null = null;
  #failures = 0;

  constructor(store: StateStore, supervisor: Supervisor, logger: Logger) {
    this.#store = store;
    this.#supervisor = supervisor;
    this.#logger = logger;
  }

  /** Records every event from now on. */
  start(): void {
    const events = this.#supervisor.events;
    const subscription = events.subscribe(events.lastSeq, (event) => this.#record(event));
    this.#unsubscribe = subscription.unsubscribe;
  }

  /** Stops recording (the store stays open: the caller closes it). */
  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  /**
   * Runs `work` (a take-over) with its records written in one go at its end (StateStore.batch);
   * a failed write is counted and logged like a failed append.
   */
  batch<T>(work: () => T): T {
    return this.#store.batch(work, (error) => {
      this.#failures++;
      this.#logger.error({ err: error }, 'state not recorded (the records of a take-over)');
    });
  }

  /** Appends failed so far (each logged): the API's system info reports it. */
  get failures(): number {
    return this.#failures;
  }

  #record(event: SupervisorEvent): void {
    try {
      this.#append(event);
    } catch (error) {
      // A full disk must not take a service's state change down with it: the change
      // happened; only its record is missing, and a take-over will say what it could not find.
      this.#failures++;
      this.#logger.error({ err: error, event: event.type, service: event.service.id }, 'state not recorded');
    }
  }

  #append(event: SupervisorEvent): void {
    const store = this.#store;
    if (event.seq > store.state.seqReserved) store.append({ t: 'seq', reserved: event.seq + SEQ_BLOCK });
    const id = event.service.id;
    switch (event.type) {
      case 'created': {
        const service = this.#supervisor.service(id);
        store.append({ t: 'service', id, origin: service.origin, spec: service.definition.spec });
        return;
      }
      case 'state': {
        const service = this.#supervisor.service(id);
        const instance = this.#instance(service, event.time);
        store.append({ t: 'state', id, state: event.to!, reason: event.reason ?? '', spawns: service.spawns, instance });
        return;
      }
      case 'exit':
      case 'spawn-failed':
        store.append({ t: 'exit', id, exit: event.exit as ExitRecord });
        return;
      case 'reloaded':
        // Redefined in place by a config reload: a service that stays stopped has no state
        // change to carry the spec, and a daemon that takes over from the journal must restore
        // the new one (or it would restart the service to apply the file again).
        store.append({ t: 'spec', id, spec: this.#supervisor.service(id).definition.spec });
        return;
      case 'removed':
        store.append({ t: 'removed', id });
        return;
    }
  }

  // The recorded instance while it stays current (its handle is taken once, at its first
  // state change), a new record for a new one.
  #instance(service: Service, time: string): PersistedInstance | null {
    const process = service.process;
    if (process === null) return null;
    const recorded = this.#store.state.services.get(service.id)?.instance ?? null;
    if (recorded !== null && recorded.instance === process.instance) return recorded;
    const instance: PersistedInstance = {
      pid: process.pid,
      instance: process.instance,
      boot: bootId(),
      handle: handleOf(process),
      cgroup: service.cgroup?.dir ?? null,
      startedAt: time,
    };
    const outputs = capturedOutputs(service, process);
    if (outputs !== null) instance.outputs = outputs;
    return instance;
  }
}

// null where the kernel has no pidfs file handles (before 6.13): such an instance cannot be
// held again by a later daemon, which then says so instead of guessing by pid.
function handleOf(process: ProcessRef): PidfsHandle | null {
  try {
    return pidfsHandleOf(process);
  } catch {
    return null;
  }
}

// The pipes a capturing instance writes to, read at its first state change (from the daemon's
// read ends while they are open; else through /proc while the new child is surely unreaped).
function capturedOutputs(service: Service, process: ProcessRef): PersistedInstance['outputs'] | null {
  if (service.logs === null) return null;
  const outputs: NonNullable<PersistedInstance['outputs']> = {};
  for (const stream of ['stdout', 'stderr'] as const) {
    if (service.definition[stream] !== 'capture') continue;
    const pipe = spawnedOutputPipe(process, stream);
    if (pipe !== null) outputs[stream] = pipe;
  }
  return outputs;
}
