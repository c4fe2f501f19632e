// foregroundTerminal: the new process group takes the terminal that is the child's own fd 0.
// It used to act on the daemon's fd 0, before the child's fds were installed: a child whose
// stdin was /dev/null took the daemon's terminal, and the daemon was left in the background.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { missingTool } from '../helpers/tools.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const unsupported = pidfdUnsupportedReason();

// script(1) gives the fixture a terminal.
const skip = unsupported ?? missingTool('script', 'bsdutils');

describe.skipIf(skip !== null)(`foregroundTerminal${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it("gives the terminal to a child whose stdin is that terminal, and leaves it alone when its stdin is not", () => {
    // script(1) runs the fixture on a new pseudo-terminal, as its controlling terminal.
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(fixtures, 'foreground-terminal.mjs'))}`;
    const result = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', timeout: 30_000 });
    const line = result.stdout.split(/\r?\n/).find((text) => text.startsWith('{'));
    expect(line, result.stdout + result.stderr).toBeDefined();
    const report = JSON.parse(line!) as Record<string, number>;
    // The fixture starts in the foreground.
    expect(report.tpgid).toBe(report.pgrp);
    // stdin /dev/null: nothing to take.
    expect(report.afterNull).toBe(report.pgrp);
    // stdin the terminal: the child's group (its pid) took it.
    expect(report.afterTerminal).toBe(report.interactive);
  });
});
