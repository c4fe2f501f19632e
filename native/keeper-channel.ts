// The daemon's end of the channel to pidvisor-keeper: messages in and out (encoded by
// keeper-protocol.ts), fds passed both ways, and the exec into the keeper that the launch
// needs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawChannelWatcher, RawErrnoError } from './binding.js';
import { SystemError } from './errors.js';
import {
  decodeKeeperMessage,
  encodeDeposit,
  encodeEmpty,
  encodeKeyed,
  MessageType,
  type FdEntry,
  type KeeperExit,
} from './keeper-protocol.js';
import { binding } from './load.js';

export interface KeeperListener {
  /** One stored fd (a dup now owned by the daemon: close it when done). */
  onItem?(entry: FdEntry, fd: number): void;
  onExit?(exit: KeeperExit): void;
  /** The inventory is complete: every item and every pending exit came before this. */
  onInventoryEnd?(items: number, exits: number): void;
  /** The keeper refused a message (ENOSPC: store full; ENOENT: no such key or exit). */
  onRefused?(refusal: { aboutType: number; errno: number; code: string; key: bigint }): void;
  /** The keeper's end is gone (it exited) or sent what this side cannot read. */
  onClosed?(reason: Error | null): void;
}

interface Outgoing {
  bytes: Uint8Array;
  fd: number;
  sent: () => void;
}

export class KeeperChannel {
  readonly fd: number;
  #watcher: RawChannelWatcher | null = null;
  #listener: KeeperListener = {};
  readonly #outbox: Outgoing[] = [];
  #closed = false;

  constructor(fd: number) {
    this.fd = fd;
  }

  /** The keeper's end is gone, or this side said STOPPING or REEXEC: nothing more can be sent. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Starts reading: messages wait in the socket (and the keeper holds them) until then. From
   * here the channel keeps the event loop alive, as a socket does, until stopping() or close().
   */
  listen(listener: KeeperListener): void {
    this.#listener = listener;
    this.#watch();
  }

  /** Resolves once the message is in the socket: keep `fd` open until then. */
  deposit(entry: FdEntry, fd: number): Promise<void> {
    return this.#send(encodeDeposit(entry), fd);
  }

  withdraw(key: bigint): Promise<void> {
    return this.#send(encodeKeyed(MessageType.WITHDRAW, key), -1);
  }

  acknowledgeExit(id: bigint): Promise<void> {
    return this.#send(encodeKeyed(MessageType.EXIT_ACK, id), -1);
  }

  ready(): Promise<void> {
    return this.#send(encodeEmpty(MessageType.READY), -1);
  }

  /**
   * This daemon exits on purpose: the keeper then exits with its status instead of restarting
   * it. Synchronous (waits for room in the socket) so that it is sent before the process ends;
   * then the channel is closed (its watcher no longer keeps the event loop alive).
   */
  stopping(): void {
    this.#last(MessageType.STOPPING);
  }

  /**
   * This daemon hands everything over for an upgrade (REEXEC comes next) and acts on no signal
   * any more: the keeper holds `signals` (numbers this daemon received meanwhile), and every
   * signal it would pass to this daemon from now on, for the next daemon, once that one is
   * READY. Send it again as more arrive. A keeper older than the message drops it (counted as
   * malformed): the signals are then lost, as they were with it.
   */
  handingOver(signals: readonly number[]): Promise<void> {
    const mask = signals.reduce((bits, signal) => bits | (1n << BigInt(signal - 1)), 0n);
    return this.#send(encodeKeyed(MessageType.HANDING_OVER, mask), -1);
  }

  /**
   * This daemon is about to exit for an upgrade: once it has, the keeper re-executes itself from
   * disk (keeping its fds, exits and children) and starts a new daemon, which gets them all. Send
   * every deposit first; then exit. Synchronous, as stopping(). False when it could not be
   * sent (the channel was closed, or the keeper's end is gone).
   */
  reexec(): boolean {
    return this.#last(MessageType.REEXEC);
  }

  #last(type: typeof MessageType.STOPPING | typeof MessageType.REEXEC): boolean {
    if (this.#closed) return false;
    try {
      for (const message of this.#outbox.splice(0)) {
        binding.channelSend(this.fd, message.bytes, message.fd, true);
        message.sent();
      }
      binding.channelSend(this.fd, encodeEmpty(type), -1, true);
    } catch (error) {
      this.#close(SystemError.from(error as RawErrnoError));
      return false;
    }
    this.#close(null);
    return true;
  }

  close(): void {
    this.#close(null);
  }

  #send(bytes: Uint8Array, fd: number): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the channel to the keeper is closed'));
    return new Promise((resolve) => {
      this.#outbox.push({ bytes, fd, sent: resolve });
      this.#flush();
    });
  }

  #flush(): void {
    while (this.#outbox.length > 0 && !this.#closed) {
      const next = this.#outbox[0]!;
      try {
        binding.channelSend(this.fd, next.bytes, next.fd, false);
      } catch (error) {
        if ((error as RawErrnoError).code === 'EAGAIN') {
          this.#watch().watchWritable(true);
          return;
        }
        this.#close(SystemError.from(error as RawErrnoError));
        return;
      }
      this.#outbox.shift();
      next.sent();
    }
    this.#watcher?.watchWritable(false);
  }

  #watch(): RawChannelWatcher {
    this.#watcher ??= new binding.ChannelWatcher(this.fd, (readable, writable, failed) => {
      if (writable || failed) this.#flush();
      if (readable || failed) this.#receive();
    });
    return this.#watcher;
  }

  #receive(): void {
    // Bounded per wake-up: a long inventory does not hold the event loop; the rest comes on
    // the next iteration (the socket stays readable).
    for (let count = 0; count < 256 && !this.#closed; count++) {
      let received;
      try {
        received = binding.channelReceive(this.fd);
      } catch (error) {
        this.#close(SystemError.from(error as RawErrnoError));
        return;
      }
      if (received === null) return;
      const [bytes, fds, truncated] = received;
      if (bytes.length === 0 && fds.length === 0) {
        this.#close(null); // end of stream: the keeper sends no empty message
        return;
      }
      try {
        if (truncated) throw new RangeError('keeper message longer than the largest message');
        const message = decodeKeeperMessage(bytes, fds.length);
        if (message.type === 'item') this.#listener.onItem?.(message.entry, fds[0]!);
        else if (message.type === 'exit') this.#listener.onExit?.(message.exit);
        else if (message.type === 'end') this.#listener.onInventoryEnd?.(message.items, message.exits);
        else this.#listener.onRefused?.({ ...message, code: errnoName(message.errno) });
      } catch (error) {
        for (const fd of fds) fs.closeSync(fd);
        this.#close(error as Error);
        return;
      }
    }
  }

  #close(reason: Error | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = null;
    for (const message of this.#outbox.splice(0)) message.sent();
    this.#listener.onClosed?.(reason);
  }
}

function errnoName(errno: number): string {
  return Object.entries(os.constants.errno).find(([, value]) => value === errno)?.[0] ?? `E${errno}`;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const KEEPER_CANDIDATES = [
  path.join(here, '../build/Release/pidvisor-keeper'),
  path.join(here, '../../build/Release/pidvisor-keeper'),
];

/** The keeper built beside the addon, or null (with the paths tried) when it is missing. */
export function keeperExecutable(): { path: string } | { path: null; tried: string[] } {
  const found = KEEPER_CANDIDATES.find((candidate) => fs.existsSync(candidate));
  return found === undefined ? { path: null, tried: KEEPER_CANDIDATES } : { path: found };
}

/** Replaces this process with the keeper (every signal blocked across the exec). Throws a SystemError when execve fails. */
export function execKeeper(executable: string, argv: string[], env: NodeJS.ProcessEnv): never {
  const environment = Object.entries(env).flatMap(([name, value]) => (value === undefined ? [] : [`${name}=${value}`]));
  try {
    return binding.execKeeper(executable, argv, environment);
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
}
