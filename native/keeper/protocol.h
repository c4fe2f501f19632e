/* The channel between pidvisor-keeper and the Node daemon it starts: one definition of every
 * message, shared by the keeper (keeper.c, C11) and the addon (C++17, which exports these
 * numbers so that test/native/keeper-protocol.test.ts can check native/keeper-protocol.ts
 * against them).
 *
 * Transport: an AF_UNIX SOCK_SEQPACKET socketpair. SEQPACKET keeps message boundaries (one
 * recvmsg, one message; a message longer than the reader's buffer is cut and flagged
 * MSG_TRUNC) and carries fds (SCM_RIGHTS). The daemon's end is fd 3 (PIDVISOR_KEEPER_FD).
 *
 * Every message: a 12-byte header, then a body of exactly header.body_length bytes, all
 * little endian, at fixed offsets (no struct is sent as is: no padding, no host order), and
 * at most one fd. The keeper validates every field and drops a message that is wrong in any
 * way, counting it; nothing a daemon sends can make it exit. */
#ifndef PIDVISOR_KEEPER_PROTOCOL_H
#define PIDVISOR_KEEPER_PROTOCOL_H

/* "PVKP" read as a little-endian u32. */
#define PVK_MAGIC 0x504b5650u
#define PVK_VERSION 1u

/* Header: u32 magic, u16 version, u16 type, u32 body_length. */
#define PVK_HEADER_SIZE 12u
#define PVK_HEADER_MAGIC 0u
#define PVK_HEADER_VERSION 4u
#define PVK_HEADER_TYPE 6u
#define PVK_HEADER_BODY_LENGTH 8u

/* Daemon -> keeper. */
#define PVK_DEPOSIT 1u   /* body: fd entry (below) + exactly 1 fd: keep it; a known key is replaced */
#define PVK_WITHDRAW 2u  /* body: u64 key: close and forget it */
#define PVK_READY 3u     /* body: empty: this daemon has started (taken everything over) */
#define PVK_EXIT_ACK 4u  /* body: u64 exit_id: this exit is recorded, forget it */
#define PVK_STOPPING 5u  /* body: empty: this daemon exits on purpose; do not restart it */
#define PVK_REEXEC 6u    /* body: empty: once this daemon has exited, re-execute the keeper from disk
                          * (keeping its fd store, exits and children) and start a new daemon */
#define PVK_HANDING_OVER 7u /* body: u64 signals (bit n-1: signal n): this daemon hands over (REEXEC comes
                             * next) and acts on no signal: hold these, and every one meant for it
                             * from now on, for the next daemon (sent again as more arrive) */

/* Keeper -> daemon. */
#define PVK_INVENTORY_ITEM 16u /* body: fd entry + its fd (a dup: the keeper keeps its own) */
#define PVK_EXIT 17u           /* body: exit record (below) */
#define PVK_INVENTORY_END 18u  /* body: u32 items, u32 exits: the inventory is complete */
#define PVK_ERROR 19u          /* body: error (below): a message was refused */

/* Fd entry (DEPOSIT, INVENTORY_ITEM): u64 key, u8 kind, u8 reserved (0), u16 record_length,
 * then record_length bytes of record, opaque to the keeper (the daemon's description of the
 * fd: service, instance, stream). */
#define PVK_ENTRY_KEY 0u
#define PVK_ENTRY_KIND 8u
#define PVK_ENTRY_RESERVED 9u
#define PVK_ENTRY_RECORD_LENGTH 10u
#define PVK_ENTRY_RECORD 12u
#define PVK_RECORD_MAX 512u
#define PVK_KIND_PIDFD 1u         /* a child's pidfd: the keeper reports its pidfs inode on EXIT */
#define PVK_KIND_OUTPUT_PIPE 2u   /* the read end of a service's output */
#define PVK_KIND_LISTENER 3u      /* a listening socket of the API */

/* WITHDRAW: u64 key. EXIT_ACK: u64 exit_id. HANDING_OVER: u64 signal mask. */
#define PVK_KEY_BODY_SIZE 8u

/* Exit record: one child of the keeper it reaped. si_code/si_status as waitid(2) gives them
 * (CLD_EXITED + code, CLD_KILLED/CLD_DUMPED + signal); pidfs_inode is that of a PIDFD entry
 * deposited for the same pid, 0 when there is none or the kernel has no pidfs (before 6.9). */
#define PVK_EXIT_ID 0u
#define PVK_EXIT_PID 8u
#define PVK_EXIT_SI_CODE 12u
#define PVK_EXIT_SI_STATUS 16u
#define PVK_EXIT_RESERVED 20u
#define PVK_EXIT_PIDFS_INODE 24u
#define PVK_EXIT_UTIME_US 32u
#define PVK_EXIT_STIME_US 40u
#define PVK_EXIT_REALTIME_NS 48u
#define PVK_EXIT_SIZE 56u

/* INVENTORY_END: u32 items, u32 exits. */
#define PVK_END_ITEMS 0u
#define PVK_END_EXITS 4u
#define PVK_END_SIZE 8u

/* ERROR: u16 about_type, u16 reserved, i32 errno, u64 key (0 when the message had none).
 * ENOSPC: the fd store is full; ENOENT: no such key. */
#define PVK_ERROR_ABOUT_TYPE 0u
#define PVK_ERROR_RESERVED 2u
#define PVK_ERROR_ERRNO 4u
#define PVK_ERROR_KEY 8u
#define PVK_ERROR_SIZE 16u

/* The largest message: a header and a full fd entry. A reader's buffer is one byte larger,
 * so that a longer message shows as longer (MSG_TRUNC) rather than as exactly full. */
#define PVK_MESSAGE_MAX (PVK_HEADER_SIZE + PVK_ENTRY_RECORD + PVK_RECORD_MAX)

/* Bounds of the keeper's tables. */
#define PVK_STORE_MAX 65536u
#define PVK_EXITS_MAX 4096u

/* The env of the daemon the keeper starts. */
#define PVK_ENV_FD "PIDVISOR_KEEPER_FD"
#define PVK_ENV_INHERITED_SIGNALS "PIDVISOR_INHERITED_SIGNALS"
#define PVK_DAEMON_FD 3

#endif
