// The messages between pidvisor-keeper and the daemon, encoded and decoded: the TypeScript
// twin of native/keeper/protocol.h (test/native/keeper-protocol.test.ts checks every number
// here against the header, through the addon). Pure functions, no I/O.

export const PROTOCOL = {
  magic: 0x504b5650,
  version: 1,
  header: { size: 12, magic: 0, version: 4, type: 6, bodyLength: 8 },
  entry: { key: 0, kind: 8, reserved: 9, recordLength: 10, record: 12 },
  recordMax: 512,
  keyBodySize: 8,
  exit: { id: 0, pid: 8, siCode: 12, siStatus: 16, reserved: 20, pidfsInode: 24, utimeUs: 32, stimeUs: 40, realtimeNs: 48, size: 56 },
  end: { items: 0, exits: 4, size: 8 },
  error: { aboutType: 0, reserved: 2, errno: 4, key: 8, size: 16 },
  storeMax: 65536,
  exitsMax: 4096,
  daemonFd: 3,
  envFd: 'PIDVISOR_KEEPER_FD',
  envInheritedSignals: 'PIDVISOR_INHERITED_SIGNALS',
} as const;

export const MESSAGE_MAX = PROTOCOL.header.size + PROTOCOL.entry.record + PROTOCOL.recordMax;

/** Message types: daemon -> keeper below 16, keeper -> daemon from 16. */
export const MessageType = {
  DEPOSIT: 1,
  WITHDRAW: 2,
  READY: 3,
  EXIT_ACK: 4,
  STOPPING: 5,
  REEXEC: 6,
  HANDING_OVER: 7,
  INVENTORY_ITEM: 16,
  EXIT: 17,
  INVENTORY_END: 18,
  ERROR: 19,
} as const;

export const FdKind = { PIDFD: 1, OUTPUT_PIPE: 2, LISTENER: 3 } as const;
export type FdKindName = keyof typeof FdKind;

export interface FdEntry {
  /** The daemon's own name for the fd (unique in the store; a second deposit replaces it). */
  key: bigint;
  kind: FdKindName;
  /** Opaque to the keeper: the daemon's description (service, instance, stream), up to 512 bytes. */
  record: Uint8Array;
}

/** A child of the keeper it reaped, in waitid(2) terms (CLD_EXITED = 1, CLD_KILLED = 2, CLD_DUMPED = 3). */
export interface KeeperExit {
  id: bigint;
  pid: number;
  siCode: number;
  siStatus: number;
  /** pidfs inode of the deposited pidfd (0n before Linux 6.9). */
  pidfsInode: bigint;
  userCpuMicros: bigint;
  systemCpuMicros: bigint;
  /** CLOCK_REALTIME at the reap, in nanoseconds. */
  reapedAtNs: bigint;
}

export type KeeperMessage =
  | { type: 'item'; entry: FdEntry }
  | { type: 'exit'; exit: KeeperExit }
  | { type: 'end'; items: number; exits: number }
  | { type: 'error'; aboutType: number; errno: number; key: bigint };

function message(type: number, bodyLength: number): { bytes: Uint8Array; view: DataView; body: number } {
  const bytes = new Uint8Array(PROTOCOL.header.size + bodyLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(PROTOCOL.header.magic, PROTOCOL.magic, true);
  view.setUint16(PROTOCOL.header.version, PROTOCOL.version, true);
  view.setUint16(PROTOCOL.header.type, type, true);
  view.setUint32(PROTOCOL.header.bodyLength, bodyLength, true);
  return { bytes, view, body: PROTOCOL.header.size };
}

export function encodeDeposit(entry: FdEntry): Uint8Array {
  if (entry.record.length > PROTOCOL.recordMax) throw new RangeError(`a record holds at most ${PROTOCOL.recordMax} bytes, not ${entry.record.length}`);
  const { bytes, view, body } = message(MessageType.DEPOSIT, PROTOCOL.entry.record + entry.record.length);
  view.setBigUint64(body + PROTOCOL.entry.key, entry.key, true);
  view.setUint8(body + PROTOCOL.entry.kind, FdKind[entry.kind]);
  view.setUint16(body + PROTOCOL.entry.recordLength, entry.record.length, true);
  bytes.set(entry.record, body + PROTOCOL.entry.record);
  return bytes;
}

/** WITHDRAW (key), EXIT_ACK (exit id) or HANDING_OVER (signal mask: bit n-1 for signal n). */
export function encodeKeyed(type: typeof MessageType.WITHDRAW | typeof MessageType.EXIT_ACK | typeof MessageType.HANDING_OVER, key: bigint): Uint8Array {
  const { bytes, view, body } = message(type, PROTOCOL.keyBodySize);
  view.setBigUint64(body, key, true);
  return bytes;
}

/** READY, STOPPING or REEXEC. */
export function encodeEmpty(type: typeof MessageType.READY | typeof MessageType.STOPPING | typeof MessageType.REEXEC): Uint8Array {
  return message(type, 0).bytes;
}

/** Decodes what the keeper sends; throws a RangeError naming what is wrong (the keeper is trusted, so that is a bug). */
export function decodeKeeperMessage(bytes: Uint8Array, fdCount: number): KeeperMessage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < PROTOCOL.header.size) throw new RangeError(`keeper message of ${bytes.length} bytes is shorter than a header`);
  if (view.getUint32(PROTOCOL.header.magic, true) !== PROTOCOL.magic) throw new RangeError('keeper message with a bad magic');
  if (view.getUint16(PROTOCOL.header.version, true) !== PROTOCOL.version) throw new RangeError('keeper message of an unknown version');
  const length = view.getUint32(PROTOCOL.header.bodyLength, true);
  if (length !== bytes.length - PROTOCOL.header.size) throw new RangeError('keeper message whose body length does not match');
  const type = view.getUint16(PROTOCOL.header.type, true);
  const b = PROTOCOL.header.size;
  const expectFds = type === MessageType.INVENTORY_ITEM ? 1 : 0;
  if (fdCount !== expectFds) throw new RangeError(`keeper message of type ${type} with ${fdCount} fds`);
  switch (type) {
    case MessageType.INVENTORY_ITEM: {
      const recordLength = view.getUint16(b + PROTOCOL.entry.recordLength, true);
      if (length !== PROTOCOL.entry.record + recordLength) throw new RangeError('inventory item whose record length does not match');
      const kindNumber = view.getUint8(b + PROTOCOL.entry.kind);
      const kind = (Object.keys(FdKind) as FdKindName[]).find((name) => FdKind[name] === kindNumber);
      if (kind === undefined) throw new RangeError(`inventory item of unknown kind ${kindNumber}`);
      return {
        type: 'item',
        entry: {
          key: view.getBigUint64(b + PROTOCOL.entry.key, true),
          kind,
          record: Uint8Array.from(bytes.subarray(b + PROTOCOL.entry.record, b + PROTOCOL.entry.record + recordLength)),
        },
      };
    }
    case MessageType.EXIT:
      if (length !== PROTOCOL.exit.size) throw new RangeError('exit record of the wrong size');
      return {
        type: 'exit',
        exit: {
          id: view.getBigUint64(b + PROTOCOL.exit.id, true),
          pid: view.getUint32(b + PROTOCOL.exit.pid, true),
          siCode: view.getInt32(b + PROTOCOL.exit.siCode, true),
          siStatus: view.getInt32(b + PROTOCOL.exit.siStatus, true),
          pidfsInode: view.getBigUint64(b + PROTOCOL.exit.pidfsInode, true),
          userCpuMicros: view.getBigUint64(b + PROTOCOL.exit.utimeUs, true),
          systemCpuMicros: view.getBigUint64(b + PROTOCOL.exit.stimeUs, true),
          reapedAtNs: view.getBigUint64(b + PROTOCOL.exit.realtimeNs, true),
        },
      };
    case MessageType.INVENTORY_END:
      if (length !== PROTOCOL.end.size) throw new RangeError('inventory end of the wrong size');
      return { type: 'end', items: view.getUint32(b + PROTOCOL.end.items, true), exits: view.getUint32(b + PROTOCOL.end.exits, true) };
    case MessageType.ERROR:
      if (length !== PROTOCOL.error.size) throw new RangeError('error reply of the wrong size');
      return {
        type: 'error',
        aboutType: view.getUint16(b + PROTOCOL.error.aboutType, true),
        errno: view.getInt32(b + PROTOCOL.error.errno, true),
        key: view.getBigUint64(b + PROTOCOL.error.key, true),
      };
    default:
      throw new RangeError(`keeper message of unknown type ${type}`);
  }
}
