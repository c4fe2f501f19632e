// The process layer's public API: spawn, adopt, signal and reap processes through pidfds.
export { spawn, ChildProcess, RLIMITS } from './spawn.js';
export type { SpawnOptions, StdioOption, RlimitName, Rlimit, RlimitValue } from './spawn.js';
export { ProcessRef } from './process-ref.js';
export type { SignalOptions } from './process-ref.js';
export { adopt, openProcess } from './adopt.js';
export { OrphanReaper, setChildSubreaper, isChildSubreaper } from './orphan-reaper.js';
export type { ReapedOrphan, OrphanReaperOptions } from './orphan-reaper.js';
export { peerCredentials } from './peer.js';
export type { PeerCredentials } from './peer.js';
export { capabilities, assertPidfdSupport, pidfdUnsupportedReason, findCgroup2Mount } from './capabilities.js';
export type { Capabilities, Feature } from './capabilities.js';
export { exitFromRaw, shellStatus } from './exit.js';
export type { ProcessExit, ResourceUsage } from './exit.js';
export { signalNumber, signalName } from './signals.js';
export type { SignalLike, SignalName } from './signals.js';
export { SystemError, SpawnError, ProcessExitedError, ProcessIdentityError, UnsupportedKernelError } from './errors.js';
export type { SpawnStage } from './errors.js';
