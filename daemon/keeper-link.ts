// The daemon's use of pidvisor-keeper's fd store (daemon/keeper.ts, native/keeper/keeper.c).
// Each running instance's pidfd, and the read ends of its captured stdout and stderr pipes,
// are deposited when the instance appears and withdrawn once its exit is recorded. So when
// this Node process dies, the keeper (then the services' reaper) holds every instance, reaps
// those that end and keeps how each ended (EXIT, exact), keeps every output pipe open (a
// service writing meanwhile fills the pipe and then blocks, but never gets SIGPIPE), and,
// since it holds something, starts a new daemon. That daemon reads the inventory here first:
// the take-over (take-over.ts) holds an instance again through the keeper's pidfd before its
// pidfs file handle, reads its output from the keeper's read ends, and records an instance
// that ended with the keeper's status instead of `unobserved`. Exits are acknowledged only
// once recorded in the journal.
//
// An output pipe is withdrawn when this daemon has read it to its end (its reader closed), not
// at its instance's exit: a process the instance left behind (kill mode `process`) may still
// write to it, and an instance that ends during a hand-over (reexec) may have left bytes in it
// that this daemon no longer reads. The next daemon then reads such a pipe of an ended
// instance to its end, into the service's logs, and withdraws it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Logger } from 'pino';
import type { KeeperChannel } from '../native/keeper-channel.js';
import type { KeeperExit } from '../native/keeper-protocol.js';
import type { SupervisorEvent } from './events.js';
import type { InstanceOutputs } from './service.js';
import { dupFd, PipeReader } from '../native/index.js';
import type { Supervisor } from './supervisor.js';

// crypto.hash (Node 20.12, 21.7) is the same digest in one call, without a Hash object. Every
// state change of a service with an instance derives its three keys (pidfd, stdout, stderr):
// starting 200 services made 600 Hash objects, stopping them 600 more. Older Node: createHash.
const sha256: (text: string) => Buffer =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'buffer') : (text) => crypto.createHash('sha256').update(text).digest();

/** The store key of an instance's pidfd: the same in every daemon that knows the instance. */
export function instanceKey(serviceId: string, instance: string): bigint {
  return sha256(`${serviceId}/${instance}`).readBigUInt64LE(0);
}

export type OutputStream = 'stdout' | 'stderr';

/** The store key of an instance's output pipe read end. */
export function outputKey(serviceId: string, instance: string, stream: OutputStream): bigint {
  return sha256(`${serviceId}/${instance}/${stream}`).readBigUInt64LE(0);
}

/** What a listening socket of the API listens on: the name it is kept under. */
export type ListenerAddress = { transport: 'unix'; path: string } | { transport: 'tcp'; host: string; port: number };

/** Keeps the API's listening sockets open across the death of the daemon (api/server/transport.ts). */
export interface ListenerKeeper {
  /** The listening socket kept for `address`, now the caller's; null when none is kept. */
  takeListener(address: ListenerAddress): number | null;
  /** Keeps a copy of `fd`, a socket listening on `address`. */
  depositListener(address: ListenerAddress, fd: number): void;
}

/** The store key of a listening socket of the API, named by what it listens on. */
function listenerKey(address: ListenerAddress): bigint {
  return sha256(`listener/${JSON.stringify(listenerRecord(address))}`).readBigUInt64LE(0);
}

function listenerRecord(address: ListenerAddress): { l: 'unix'; path: string } | { l: 'tcp'; host: string; port: number } {
  return address.transport === 'unix' ? { l: 'unix', path: address.path } : { l: 'tcp', host: address.host, port: address.port };
}

/** The instance token (native/process-ref.ts) of the process an EXIT reports; null before pidfs. */
function instanceOfExit(exit: KeeperExit): string | null {
  return exit.pidfsInode === 0n ? null : `${exit.pid}.${exit.pidfsInode.toString(36)}`;
}

/** A deposit's record as this daemon wrote it: an instance's (s, i, o) or a listener's (l, path | host, port). */
interface ItemRecord {
  s?: unknown;
  i?: unknown;
  o?: unknown;
  l?: unknown;
  path?: unknown;
  host?: unknown;
  port?: unknown;
}

// The keeper sends the inventory at once; a daemon that waited longer would only be stuck.
const INVENTORY_TIMEOUT_MS = 10_000;

export class KeeperLink implements ListenerKeeper {
  readonly #channel: KeeperChannel;
  readonly #logger: Logger;
  /** Inventory pidfds not yet taken, by instance token. */
  readonly #held = new Map<string, { key: bigint; fd: number; service: string }>();
  /** Inventory listening sockets not yet taken, by key. */
  readonly #heldListeners = new Map<bigint, number>();
  /** Inventory output pipe read ends not yet taken, by `<instance token>/<stream>`. */
  readonly #heldOutputs = new Map<string, { key: bigint; fd: number; service: string; stream: OutputStream }>();
  /** Output pipes deposited whose reader this daemon reads, with their instance: withdrawn once it is closed. */
  readonly #pipesRead = new Map<bigint, string>();
  /** Handing over to the next daemon (reexec): nothing is withdrawn any more, it is all for the next one. */
  #handingOver = false;
  /** Exits the keeper reported and that are not yet acknowledged, by instance token. */
  readonly #exits = new Map<string, KeeperExit>();
  /** Instances the keeper holds fds of now (pidfd, output pipes), by token: the keys to withdraw at their exit. */
  readonly #deposited = new Map<string, bigint[]>();
  /** Callers waiting for the keeper's EXIT of a re-adopted instance, by token. */
  readonly #exitWaiters = new Map<string, Array<(exit: KeeperExit) => void>>();
  #inventoryDone = false;
  #unsubscribe: (() => void) | null = null;
  #closed = false;

  private constructor(channel: KeeperChannel, logger: Logger) {
    this.#channel = channel;
    this.#logger = logger;
  }

  /** Starts listening and resolves once the inventory is complete (or the keeper is gone). */
  static async open(channel: KeeperChannel, logger: Logger): Promise<KeeperLink> {
    const link = new KeeperLink(channel, logger);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        logger.error('the keeper sent no complete inventory within 10 s; taking over without it');
        resolve();
      }, INVENTORY_TIMEOUT_MS);
      channel.listen({
        onItem: (entry, fd) => link.#onItem(entry.key, entry.kind, entry.record, fd),
        onExit: (exit) => link.#onExit(exit),
        onInventoryEnd: (items, exits) => {
          clearTimeout(timer);
          link.#inventoryDone = true;
          logger.info({ items, exits }, 'keeper inventory received');
          resolve();
        },
        onRefused: (refusal) => logger.warn({ ...refusal, key: refusal.key.toString() }, 'the keeper refused a message'),
        onClosed: (reason) => {
          clearTimeout(timer);
          link.#closed = true;
          if (reason !== null) logger.error({ err: reason }, 'the channel to the keeper closed');
          resolve();
        },
      });
    });
    link.#inventoryDone = true;
    return link;
  }

  #onItem(key: bigint, kind: string, record: Uint8Array, fd: number): void {
    let named: ItemRecord | null = null;
    try {
      named = JSON.parse(Buffer.from(record).toString('utf8')) as ItemRecord;
    } catch {
      named = null;
    }
    if (!this.#inventoryDone && kind === 'LISTENER' && named !== null) {
      const address: ListenerAddress | null =
        named.l === 'unix' && typeof named.path === 'string'
          ? { transport: 'unix', path: named.path }
          : named.l === 'tcp' && typeof named.host === 'string' && typeof named.port === 'number'
            ? { transport: 'tcp', host: named.host, port: named.port }
            : null;
      if (address !== null && listenerKey(address) === key) {
        this.#heldListeners.set(key, fd);
        return;
      }
    }
    const service = typeof named?.s === 'string' ? named.s : null;
    const instance = typeof named?.i === 'string' ? named.i : null;
    const stream = named?.o === 'stdout' || named?.o === 'stderr' ? named.o : null;
    // Each item under the key its record names: an instance's pidfd, or one of its output pipes.
    if (!this.#inventoryDone && service !== null && instance !== null) {
      if (kind === 'PIDFD' && instanceKey(service, instance) === key) {
        this.#held.set(instance, { key, fd, service });
        return;
      }
      if (kind === 'OUTPUT_PIPE' && stream !== null && outputKey(service, instance, stream) === key) {
        this.#heldOutputs.set(`${instance}/${stream}`, { key, fd, service, stream });
        return;
      }
    }
    this.#logger.warn({ key: key.toString(), kind }, 'keeper item not understood; withdrawn');
    fs.closeSync(fd);
    this.#withdraw(key);
  }

  #onExit(exit: KeeperExit): void {
    const instance = instanceOfExit(exit);
    if (instance === null) {
      // Before Linux 6.9 no token to match: the take-over records such an instance `unobserved`.
      this.#acknowledge(exit);
      return;
    }
    this.#exits.set(instance, exit);
    for (const resolve of this.#exitWaiters.get(instance) ?? []) resolve(exit);
    this.#exitWaiters.delete(instance);
    // After the take-over: a re-adopted instance (the keeper's child) ended. The service sees
    // it through its pidfd; the record is acknowledged once the exit is journaled (#onEvent),
    // or now if it already is.
    if (this.#inventoryDone && !this.#deposited.has(instance)) this.#acknowledge(exit);
  }

  /** Records that the keeper holds `key` for `instance` (withdrawn with the instance). */
  #keep(instance: string, key: bigint): void {
    const keys = this.#deposited.get(instance);
    if (keys === undefined) this.#deposited.set(instance, [key]);
    else if (!keys.includes(key)) keys.push(key);
  }

  /**
   * The pidfd the keeper held for `instance` of `serviceId`, now owned by the caller; null if
   * it holds none. The keeper keeps its own copy (the deposit stays, for the next daemon).
   */
  takePidfd(serviceId: string, instance: string): number | null {
    const held = this.#held.get(instance);
    // Its key was checked against the record's (service, instance) on receipt: comparing the
    // service id is the same check without a sha256 per take (2,000 of them at 1,000 services).
    if (held === undefined || held.service !== serviceId) return null;
    this.#held.delete(instance);
    this.#keep(instance, held.key);
    return held.fd;
  }

  /**
   * The read end of `instance`'s `stream` pipe the keeper held, now owned by the caller (the
   * keeper keeps its copy until the instance's exit is recorded); null if it holds none.
   */
  takeOutput(serviceId: string, instance: string, stream: OutputStream): number | null {
    const held = this.#heldOutputs.get(`${instance}/${stream}`);
    if (held === undefined || held.service !== serviceId) return null; // checked on receipt, as in takePidfd
    this.#heldOutputs.delete(`${instance}/${stream}`);
    this.#keep(instance, held.key);
    return held.fd;
  }

  /**
   * The API's listening socket for `address` the keeper held, now owned by the caller (the
   * keeper keeps its copy: connections made while no daemon runs wait in its backlog); null
   * if it holds none.
   */
  takeListener(address: ListenerAddress): number | null {
    const key = listenerKey(address);
    const fd = this.#heldListeners.get(key);
    if (fd === undefined) return null;
    this.#heldListeners.delete(key);
    return fd;
  }

  /** Hands the keeper a listening socket of the API (it keeps it open across this daemon's death). */
  depositListener(address: ListenerAddress, listening: number): void {
    if (this.#closed) return;
    let fd: number;
    try {
      fd = dupFd(listening);
    } catch (error) {
      this.#logger.error({ err: error, address }, 'listening socket not deposited with the keeper');
      return;
    }
    const record = Buffer.from(JSON.stringify(listenerRecord(address)));
    this.#channel.deposit({ key: listenerKey(address), kind: 'LISTENER', record }, fd).then(
      () => fs.closeSync(fd),
      () => fs.closeSync(fd),
    );
  }

  /** Once the API listens: withdraws the listening sockets it did not take (it listens elsewhere now). */
  settleListeners(): void {
    for (const [key, fd] of this.#heldListeners) {
      this.#logger.info({ key: key.toString() }, 'the keeper held a listening socket this daemon does not use; withdrawn');
      fs.closeSync(fd);
      this.#withdraw(key);
    }
    this.#heldListeners.clear();
  }

  /**
   * How the keeper reaped `instance`, a re-adopted instance (the keeper's child): its EXIT
   * comes just after the reap that made the instance's pidfd report the exit; null if none
   * comes within `timeoutMs` (the keeper gone, or no pidfs token to match it by).
   */
  reapedExit(instance: string, timeoutMs: number): Promise<KeeperExit | null> {
    const known = this.#exits.get(instance);
    if (known !== undefined) return Promise.resolve(known);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiters = this.#exitWaiters.get(instance) ?? [];
      const timer = setTimeout(() => {
        const left = (this.#exitWaiters.get(instance) ?? []).filter((w) => w !== done);
        if (left.length === 0) this.#exitWaiters.delete(instance);
        else this.#exitWaiters.set(instance, left);
        resolve(null);
      }, timeoutMs);
      const done = (exit: KeeperExit): void => {
        clearTimeout(timer);
        resolve(exit);
      };
      waiters.push(done);
      this.#exitWaiters.set(instance, waiters);
    });
  }

  /** How the keeper saw `instance` end, if it reaped it while no daemon ran. */
  exitOf(instance: string): KeeperExit | null {
    return this.#exits.get(instance) ?? null;
  }

  /**
   * After the take-over (whose records are journaled): acknowledges every exit it recorded,
   * withdraws the pidfds of ended instances, and from now on deposits each new instance and
   * withdraws it when its exit is recorded.
   */
  start(supervisor: Supervisor): void {
    for (const [instance, held] of this.#held) {
      // An instance the journal does not name (or not as current): nobody will take it over.
      this.#logger.warn({ instance }, 'the keeper held an instance no service has; withdrawn');
      fs.closeSync(held.fd);
      this.#withdraw(held.key);
    }
    for (const [instance, held] of this.#heldOutputs) this.#drainEnded(supervisor, instance, held);
    this.#held.clear();
    this.#heldOutputs.clear();
    // Taken, but the instance had ended (reaped by the keeper, or by the dead daemon before it
    // could withdraw it): nothing is left to hold for the next daemon. (Its output pipes, if
    // taken, are being drained into its logs by this daemon.)
    // The service objects, not list(): each info() reads its log files' sizes (twice over 1,000
    // services cost ~0.35 s of a take-over under load).
    const services = supervisor.services();
    const current = new Set(services.map((service) => service.process?.instance));
    for (const [instance, keys] of this.#deposited) {
      if (current.has(instance)) continue;
      this.#deposited.delete(instance);
      for (const key of keys) this.#withdraw(key);
    }
    for (const [instance, exit] of this.#exits) {
      if (this.#deposited.has(instance)) continue; // re-adopted, ended since: at its exit event
      this.#acknowledge(exit);
    }
    const events = supervisor.events;
    const subscription = events.subscribe(events.lastSeq, (event) => this.#onEvent(supervisor, event));
    this.#unsubscribe = subscription.unsubscribe;
    for (const service of services) this.#depositCurrent(service.id, service);
  }

  /**
   * A hand-over to the next daemon (reexec) has begun: from now on nothing is withdrawn (an
   * instance that ends now may have left output this daemon no longer reads); new instances
   * are still deposited.
   */
  handOver(): void {
    this.#handingOver = true;
  }

  /**
   * The pipe of an instance that ended (no service has it as current): read to its end into
   * the service's logs, then withdrawn. Bytes it still held, or that a process the instance
   * left behind writes, are not lost.
   */
  #drainEnded(supervisor: Supervisor, instance: string, held: { key: bigint; fd: number; service: string; stream: OutputStream }): void {
    let logs = null;
    try {
      logs = fs.fstatSync(held.fd).isFIFO() ? supervisor.service(held.service).logs : null;
    } catch {
      logs = null; // the service is gone
    }
    if (logs === null) {
      this.#logger.warn({ instance, stream: held.stream }, 'the keeper held an output pipe no service reads; withdrawn');
      fs.closeSync(held.fd);
      this.#withdraw(held.key);
      return;
    }
    this.#logger.info({ service: held.service, instance, stream: held.stream }, 'reading the rest of an ended instance\'s output');
    const reader = new PipeReader(held.fd);
    this.#pipesRead.set(held.key, instance);
    reader.onClose(() => this.#pipeClosed(held.key));
    logs.attach(held.stream, reader);
  }

  #pipeClosed(key: bigint): void {
    const instance = this.#pipesRead.get(key);
    if (instance === undefined || this.#handingOver) return;
    this.#pipesRead.delete(key);
    // Not withdrawn a second time at the instance's exit.
    const keys = this.#deposited.get(instance);
    if (keys !== undefined) this.#deposited.set(instance, keys.filter((k) => k !== key));
    this.#withdraw(key);
  }

  /** Stops depositing (a clean stop: the keeper is told STOPPING next). */
  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  #onEvent(supervisor: Supervisor, event: SupervisorEvent): void {
    if (event.type === 'state') {
      let service;
      try {
        service = supervisor.service(event.service.id);
      } catch {
        return; // removed
      }
      this.#depositCurrent(event.service.id, service);
    } else if (event.type === 'exit' && typeof event.instance === 'string') {
      const keys = this.#deposited.get(event.instance);
      if (keys === undefined) return;
      this.#deposited.delete(event.instance);
      // Its output pipes go once read to their end (#pipeClosed).
      if (!this.#handingOver) for (const key of keys) if (!this.#pipesRead.has(key)) this.#withdraw(key);
      const exit = this.#exits.get(event.instance);
      if (exit !== undefined) this.#acknowledge(exit);
    }
  }

  /** Deposits what the keeper does not hold yet of the service's current instance: its pidfd, its output pipes. */
  #depositCurrent(serviceId: string, service: { process: { pidfd: number; instance: string } | null; outputs: InstanceOutputs }): void {
    const process = service.process;
    if (process === null || process.pidfd < 0 || this.#closed) return;
    const instance = process.instance;
    const held = this.#deposited.get(instance) ?? [];
    const pidfdKey = instanceKey(serviceId, instance);
    if (!held.includes(pidfdKey)) this.#deposit(serviceId, instance, pidfdKey, 'PIDFD', process.pidfd, null);
    for (const stream of ['stdout', 'stderr'] as const) {
      const reader = service.outputs[stream];
      // Not captured: nothing to deposit or watch, and no key (a sha256) to derive for nothing.
      if (reader === null) continue;
      const fd = reader.closed ? null : reader.fd;
      const key = outputKey(serviceId, instance, stream);
      if (fd !== null && !held.includes(key)) this.#deposit(serviceId, instance, key, 'OUTPUT_PIPE', fd, stream);
      if (!reader.closed && !this.#pipesRead.has(key)) {
        this.#pipesRead.set(key, instance);
        reader.onClose(() => this.#pipeClosed(key));
      }
    }
  }

  #deposit(serviceId: string, instance: string, key: bigint, kind: 'PIDFD' | 'OUTPUT_PIPE', source: number, stream: OutputStream | null): void {
    // A new open file of the same object (the same pidfs inode; the same pipe), ours until the
    // deposit is in the socket: the service may close its own fd before a deposit that had to
    // wait is sent, and the number then names something else. A pipe opens like a FIFO:
    // O_NONBLOCK so that the open does not wait for a writer when the service has just ended.
    let fd: number;
    try {
      fd = fs.openSync(`/proc/self/fd/${source}`, fs.constants.O_RDONLY | (kind === 'OUTPUT_PIPE' ? fs.constants.O_NONBLOCK : 0));
    } catch (error) {
      this.#logger.error({ err: error, service: serviceId, instance, kind, stream }, 'not deposited with the keeper');
      return;
    }
    this.#keep(instance, key);
    const record = Buffer.from(JSON.stringify(stream === null ? { s: serviceId, i: instance } : { s: serviceId, i: instance, o: stream }));
    this.#channel.deposit({ key, kind, record }, fd).then(
      () => fs.closeSync(fd),
      () => fs.closeSync(fd),
    );
  }

  #withdraw(key: bigint): void {
    if (this.#closed) return;
    this.#channel.withdraw(key).catch(() => {});
  }

  #acknowledge(exit: KeeperExit): void {
    const instance = instanceOfExit(exit);
    if (instance !== null) this.#exits.delete(instance);
    if (this.#closed) return;
    this.#channel.acknowledgeExit(exit.id).catch(() => {});
  }
}
