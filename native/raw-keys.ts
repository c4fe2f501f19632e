// Keys of the native ProcessHandle's raw members (native/src/process_handle.cc defines them
// under the same registry symbols). ProcessRef extends that class, so these members are on
// every reference; as symbols they stay out of its public, string-keyed surface.
export const RAW_INODE: unique symbol = Symbol.for('pidvisor.raw.inode');
export const RAW_CLONE_METHOD: unique symbol = Symbol.for('pidvisor.raw.cloneMethod');
export const RAW_SEND_SIGNAL: unique symbol = Symbol.for('pidvisor.raw.sendSignal');
export const RAW_WATCH: unique symbol = Symbol.for('pidvisor.raw.watch');
export const RAW_CLOSE: unique symbol = Symbol.for('pidvisor.raw.close');
export const RAW_KILL_AND_REAP: unique symbol = Symbol.for('pidvisor.raw.killAndReap');

/** How a handle is made (ProcessHandle::Op in process_handle.h). */
export const OP_SPAWN = 0;
export const OP_OPEN = 1;
export const OP_PEER = 2;
export const OP_CLONED = 3;
export const OP_PIDFD = 4;
