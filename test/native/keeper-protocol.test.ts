// The TypeScript codec (native/keeper-protocol.ts) against native/keeper/protocol.h, whose
// numbers the addon exports: one layout, checked on both sides.
import { describe, expect, it } from 'vitest';
import { binding } from '../../native/load.js';
import { decodeKeeperMessage, encodeDeposit, encodeEmpty, encodeKeyed, FdKind, MESSAGE_MAX, MessageType, PROTOCOL } from '../../native/keeper-protocol.js';

describe('keeper protocol', () => {
  it('has the numbers of protocol.h, every one of them', () => {
    const header = binding.keeperProtocol();
    const ours: Record<string, number | string> = {
      PVK_MAGIC: PROTOCOL.magic,
      PVK_VERSION: PROTOCOL.version,
      PVK_HEADER_SIZE: PROTOCOL.header.size,
      PVK_HEADER_MAGIC: PROTOCOL.header.magic,
      PVK_HEADER_VERSION: PROTOCOL.header.version,
      PVK_HEADER_TYPE: PROTOCOL.header.type,
      PVK_HEADER_BODY_LENGTH: PROTOCOL.header.bodyLength,
      PVK_DEPOSIT: MessageType.DEPOSIT,
      PVK_WITHDRAW: MessageType.WITHDRAW,
      PVK_READY: MessageType.READY,
      PVK_EXIT_ACK: MessageType.EXIT_ACK,
      PVK_STOPPING: MessageType.STOPPING,
      PVK_REEXEC: MessageType.REEXEC,
      PVK_HANDING_OVER: MessageType.HANDING_OVER,
      PVK_INVENTORY_ITEM: MessageType.INVENTORY_ITEM,
      PVK_EXIT: MessageType.EXIT,
      PVK_INVENTORY_END: MessageType.INVENTORY_END,
      PVK_ERROR: MessageType.ERROR,
      PVK_ENTRY_KEY: PROTOCOL.entry.key,
      PVK_ENTRY_KIND: PROTOCOL.entry.kind,
      PVK_ENTRY_RESERVED: PROTOCOL.entry.reserved,
      PVK_ENTRY_RECORD_LENGTH: PROTOCOL.entry.recordLength,
      PVK_ENTRY_RECORD: PROTOCOL.entry.record,
      PVK_RECORD_MAX: PROTOCOL.recordMax,
      PVK_KIND_PIDFD: FdKind.PIDFD,
      PVK_KIND_OUTPUT_PIPE: FdKind.OUTPUT_PIPE,
      PVK_KIND_LISTENER: FdKind.LISTENER,
      PVK_KEY_BODY_SIZE: PROTOCOL.keyBodySize,
      PVK_EXIT_ID: PROTOCOL.exit.id,
      PVK_EXIT_PID: PROTOCOL.exit.pid,
      PVK_EXIT_SI_CODE: PROTOCOL.exit.siCode,
      PVK_EXIT_SI_STATUS: PROTOCOL.exit.siStatus,
      PVK_EXIT_RESERVED: PROTOCOL.exit.reserved,
      PVK_EXIT_PIDFS_INODE: PROTOCOL.exit.pidfsInode,
      PVK_EXIT_UTIME_US: PROTOCOL.exit.utimeUs,
      PVK_EXIT_STIME_US: PROTOCOL.exit.stimeUs,
      PVK_EXIT_REALTIME_NS: PROTOCOL.exit.realtimeNs,
      PVK_EXIT_SIZE: PROTOCOL.exit.size,
      PVK_END_ITEMS: PROTOCOL.end.items,
      PVK_END_EXITS: PROTOCOL.end.exits,
      PVK_END_SIZE: PROTOCOL.end.size,
      PVK_ERROR_ABOUT_TYPE: PROTOCOL.error.aboutType,
      PVK_ERROR_RESERVED: PROTOCOL.error.reserved,
      PVK_ERROR_ERRNO: PROTOCOL.error.errno,
      PVK_ERROR_KEY: PROTOCOL.error.key,
      PVK_ERROR_SIZE: PROTOCOL.error.size,
      PVK_MESSAGE_MAX: MESSAGE_MAX,
      PVK_STORE_MAX: PROTOCOL.storeMax,
      PVK_EXITS_MAX: PROTOCOL.exitsMax,
      PVK_DAEMON_FD: PROTOCOL.daemonFd,
      PVK_ENV_FD: PROTOCOL.envFd,
      PVK_ENV_INHERITED_SIGNALS: PROTOCOL.envInheritedSignals,
    };
    expect(ours).toEqual(header);
  });

  it('encodes little endian at the fixed offsets', () => {
    const deposit = encodeDeposit({ key: 0x0102030405060708n, kind: 'LISTENER', record: Buffer.from('ab') });
    expect(Buffer.from(deposit).toString('hex')).toBe(
      ['50564b50', '0100', '0100', '0e000000', '0807060504030201', '03', '00', '0200', '6162'].join(''),
    );
    expect(Buffer.from(encodeKeyed(MessageType.WITHDRAW, 1n)).toString('hex')).toBe('50564b50010002000800000001' + '00'.repeat(7));
    expect(Buffer.from(encodeEmpty(MessageType.STOPPING)).toString('hex')).toBe('50564b500100050000000000');
    expect(() => encodeDeposit({ key: 1n, kind: 'PIDFD', record: new Uint8Array(513) })).toThrow(RangeError);
  });

  it('decodes what the keeper sends and refuses anything else', () => {
    const end = Buffer.from('50564b50' + '0100' + '1200' + '08000000' + '03000000' + '04000000', 'hex');
    expect(decodeKeeperMessage(end, 0)).toEqual({ type: 'end', items: 3, exits: 4 });
    expect(() => decodeKeeperMessage(end, 1)).toThrow(/with 1 fds/);
    expect(() => decodeKeeperMessage(end.subarray(0, 19), 0)).toThrow(/body length/);
    const item = Buffer.from(encodeDeposit({ key: 9n, kind: 'PIDFD', record: Buffer.from('r') }));
    item.writeUInt16LE(MessageType.INVENTORY_ITEM, PROTOCOL.header.type);
    expect(decodeKeeperMessage(item, 1)).toEqual({ type: 'item', entry: { key: 9n, kind: 'PIDFD', record: new Uint8Array([0x72]) } });
    item.writeUInt8(9, PROTOCOL.header.size + PROTOCOL.entry.kind);
    expect(() => decodeKeeperMessage(item, 1)).toThrow(/unknown kind/);
  });
});
