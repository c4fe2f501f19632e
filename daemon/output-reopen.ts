// The output pipes of a re-adopted instance, opened again for reading. A dead daemon took
// the read ends of its services' stdout and stderr pipes with it; the pipes themselves live
// on in the services. Opening /proc/<pid>/fd/1 O_RDONLY gives a new read end of that same pipe
// (pipes open like FIFOs), so captured output resumes. A service that wrote while no reader
// existed has died of SIGPIPE already (then there is nothing to reopen): only the keeper,
// holding the read ends across the crash, closes that gap.
//
// Identity: the pipe is named by its inode ("pipe:[123]"), read at spawn and kept in the
// journal; the fd is used only if it is still that pipe and the process is still the one the
// pidfd holds, so neither a recycled pid nor a service that replaced its stdout gets read.
import fs from 'node:fs';
import { ChildProcess, PipeReader, type ProcessRef } from '../native/index.js';

export type OutputStream = 'stdout' | 'stderr';
const FD_OF: Record<OutputStream, number> = { stdout: 1, stderr: 2 };

/**
 * The pipe ("pipe:[123]") a child this daemon has just spawned writes `stream` to, from the
 * daemon's own read end: both ends of a pipe have one inode, so an fstat of ours names it
 * without a /proc lookup of the child's fd (two path walks and a signal per spawn, in the
 * journal's cost of every launch). A reference that is not our child, or whose read end is
 * closed already, is asked through /proc (outputPipeOf).
 */
export function spawnedOutputPipe(process: ProcessRef, stream: OutputStream): string | null {
  if (process instanceof ChildProcess) {
    const fd = (stream === 'stdout' ? process.stdoutReader : process.stderrReader)?.fd ?? -1;
    if (fd >= 0) {
      try {
        return `pipe:[${fs.fstatSync(fd).ino}]`;
      } catch {
        // fall through to /proc
      }
    }
  }
  return outputPipeOf(process, stream);
}

/** What fd 1 or 2 of `process` is ("pipe:[123]"), or null when it is not a pipe or cannot be read. */
export function outputPipeOf(process: ProcessRef, stream: OutputStream): string | null {
  try {
    const link = fs.readlinkSync(`/proc/${process.pid}/fd/${FD_OF[stream]}`);
    // The pid named `process` while we read only if the process still exists now.
    process.signal(0);
    return link.startsWith('pipe:[') ? link : null;
  } catch {
    return null;
  }
}

/** A new read end of the pipe `expected` that `process` still has as its stdout or stderr, or null. */
export function reopenOutputPipe(process: ProcessRef, stream: OutputStream, expected: string): PipeReader | null {
  let fd = -1;
  try {
    const path = `/proc/${process.pid}/fd/${FD_OF[stream]}`;
    if (fs.readlinkSync(path) !== expected) return null;
    // libuv adds O_CLOEXEC to every open: no service inherits this read end.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    // The open went through the pid: it reached our process only if the pidfd's process
    // still exists (then the pid was not recycled) and the pipe is still the recorded one.
    process.signal(0);
    if (`pipe:[${fs.fstatSync(fd).ino}]` !== expected) throw new Error('another pipe');
  } catch {
    if (fd >= 0) fs.closeSync(fd);
    return null;
  }
  return new PipeReader(fd);
}
