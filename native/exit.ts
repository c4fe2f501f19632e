// How a process ended, decided in one place. The shape is the same for every ending;
// shell-style codes (126, 127, 128+n) belong to logs and the CLI, never to this record.
import type { RawExit } from './binding.js';
import { signalName } from './signals.js';

const CLD_EXITED = 1;
const CLD_KILLED = 2;
const CLD_DUMPED = 3;

export interface ResourceUsage {
  userCpuMicros: number;
  systemCpuMicros: number;
  /**
   * The kernel's ru_maxrss. A vfork-style spawn runs the child on the parent's memory until
   * execve, and the kernel carries that high-water mark over, so this is at least the
   * daemon's RSS at spawn time.
   */
  maxRssKiB: number;
}

export interface ProcessExit {
  /** Exit code when the process exited by itself, else null. */
  code: number | null;
  /** Name of the signal that killed it ("SIGTERM"), else null. */
  signal: string | null;
  signalNumber: number | null;
  coreDumped: boolean;
  /** Present for our own children (reaped with waitid); null for adopted processes. */
  rusage: ResourceUsage | null;
  /** False when the kernel could not tell us how a process we did not spawn ended (before Linux 6.15). */
  known: boolean;
}

export function exitFromRaw(raw: RawExit): ProcessExit {
  const killed = raw.siCode === CLD_KILLED || raw.siCode === CLD_DUMPED;
  const rusage =
    raw.userCpuMicros === undefined
      ? null
      : { userCpuMicros: raw.userCpuMicros, systemCpuMicros: raw.systemCpuMicros ?? 0, maxRssKiB: raw.maxRssKiB ?? 0 };
  return {
    code: raw.siCode === CLD_EXITED ? raw.siStatus : null,
    signal: killed ? signalName(raw.siStatus) : null,
    signalNumber: killed ? raw.siStatus : null,
    coreDumped: raw.siCode === CLD_DUMPED,
    rusage,
    known: raw.siCode === CLD_EXITED || killed,
  };
}

/** The shell's convention (0-255, 128+n for a signal), for logs and CLI exit codes only. */
export function shellStatus(exit: ProcessExit): number | null {
  if (exit.code !== null) return exit.code;
  if (exit.signalNumber !== null) return 128 + exit.signalNumber;
  return null;
}
