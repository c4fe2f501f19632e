// The window between clone and exec, held open on purpose: strace's fault injection delays the
// child's chdir(2) (`-e inject=chdir:delay_enter=`), a real stall of the kind a hung NFS cwd
// makes. While the child waits there (test/fixtures/prexec-stall.mjs):
//   - its signal mask must block everything that can be blocked, glibc's internal SIGCANCEL
//     (32) and SIGSETXID (33) too: sigfillset + pthread_sigmask left those two open, and their
//     handlers would run in the child on the parent thread's memory;
//   - an orphan sweep on another thread must not wait for it: the clone gate was held across
//     the whole vfork, and one sweep blocked for as long as the child's chdir (3 s in issue 9).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { missingTool } from '../helpers/tools.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const unsupported = pidfdUnsupportedReason();

const skip = unsupported ?? missingTool('strace', 'strace');

// Long enough that the main thread finds the stalled child and sweeps well within it on a busy
// machine; every chdir of the traced process waits this long, and only the child makes one.
const STALL_MICROS = 4_000_000;

describe.skipIf(skip !== null)(`a child stalled before its exec${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('blocks every signal, and does not hold up an orphan sweep on another thread', () => {
    const result = spawnSync(
      'strace',
      ['-f', '--seccomp-bpf', '-qq', '-o', '/dev/null', '-e', 'trace=chdir', '-e', `inject=chdir:delay_enter=${STALL_MICROS}`,
        process.execPath, path.join(fixtures, 'prexec-stall.mjs')],
      { encoding: 'utf8', timeout: 40_000 },
    );
    expect(result.stderr).toBe('');
    const report = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(report.found).toBe(true);
    // Every bit but SIGKILL (9) and SIGSTOP (19), which cannot be blocked.
    expect(report.sigBlk).toBe('fffffffffffbfeff');
    // The sweep returned while the child was still stalled before its exec.
    expect(report.exeAfterSweep).toBe(report.node);
    // The spawn itself then went through.
    expect(report.workerExit).toMatchObject({ code: 0 });
  }, 60_000);
});
