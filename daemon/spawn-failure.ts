// What an exit record and the daemon's log say about a spawn that failed: the errno, the step,
// and the file or directory that step was about, which the process layer's message leaves out
// for chdir ("chdir: No such file or directory" names no directory; the daemon knows it).
import { SpawnError } from '../native/index.js';

export interface SpawnFailure {
  code: string;
  errno: number;
  stage: string;
  /** What the failed step was about: the working directory for chdir, the program for execve. */
  path: string | null;
  message: string;
}

export function describeSpawnFailure(error: unknown, cwd: string | undefined): SpawnFailure {
  if (!(error instanceof SpawnError)) {
    return { code: 'EUNKNOWN', errno: 0, stage: 'unknown', path: null, message: error instanceof Error ? error.message : String(error) };
  }
  const failure = { code: error.code, errno: error.errno, stage: error.stage, path: null, message: error.message };
  if (error.stage === 'execve') return { ...failure, path: error.command };
  if (error.stage !== 'chdir' || cwd === undefined) return failure;
  // The process layer's message is `cannot start "<command>": <its cause>`, the cause being
  // `chdir: <strerror> (<code>)`: keep its words, add the directory.
  const cause = error.cause instanceof Error ? error.cause.message : `${error.code}`;
  const detail = cause.startsWith('chdir: ') ? cause.slice('chdir: '.length) : cause;
  return { ...failure, path: cwd, message: `cannot start ${JSON.stringify(error.command)}: chdir ${JSON.stringify(cwd)}: ${detail}` };
}
