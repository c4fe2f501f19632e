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
  return exitFromFields(raw.siCode, raw.siStatus, raw.userCpuMicros, raw.systemCpuMicros, raw.maxRssKiB);
}

/** exitFromRaw without the RawExit record in between: the exit handler's path. */
export function exitFromFields(
  siCode: number,
  siStatus: number,
  userCpuMicros: number | undefined,
  systemCpuMicros: number | undefined,
  maxRssKiB: number | undefined,
): ProcessExit {
  const killed = siCode === CLD_KILLED || siCode === CLD_DUMPED;
  const rusage =
    userCpuMicros === undefined ? null : { userCpuMicros, systemCpuMicros: systemCpuMicros ?? 0, maxRssKiB: maxRssKiB ?? 0 };
  return {
    code: siCode === CLD_EXITED ? siStatus : null,
    signal: killed ? signalName(siStatus) : null,
    signalNumber: killed ? siStatus : null,
    coreDumped: siCode === CLD_DUMPED,
    rusage,
    known: siCode === CLD_EXITED || killed,
  };
}

/** The shell's convention (0-255, 128+n for a signal), for logs and CLI exit codes only. */
export function shellStatus(exit: ProcessExit): number | null {
  if (exit.code !== null) return exit.code;
  if (exit.signalNumber !== null) return 128 + exit.signalNumber;
  return null;
}
