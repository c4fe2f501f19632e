#!/usr/bin/env node
// The `pidvisor` command.
import fs from 'node:fs';
import module from 'node:module';
import { keepInspectorClosed } from '../daemon/inspector-signals.js';

// Before anything else loads (the CLI, the addon, fastify: tens of milliseconds): until a
// SIGUSR1 listener exists, that signal opens Node's inspector to every local user.
keepInspectorClosed();
// Node >= 22.1 keeps the code it compiles for the modules it loads on disk, for the next run
// ($NODE_COMPILE_CACHE, else node-compile-cache in the temporary directory; a directory it
// cannot write only leaves it off; NODE_DISABLE_COMPILE_CACHE=1 turns it off): the CLI, and an
// init or daemon, start faster. Node 20 has no such cache (feature-detected).
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
const { runCli } = (await import(cliEntry(process.argv[2]))) as typeof import('../api/cli/main.js');
process.exitCode = await runCli(process.argv.slice(2));

/**
 * `init` runs from the bundle of the CLI (tools/bundle-cli.ts: a few chunks instead of ~240
 * module files; its start-up is what a container pays), when the bundle is at least as new as
 * this file: tsc rewrites every file it emits, so a rebuild with tsc alone leaves an older
 * bundle, which must not run stale code. PIDVISOR_CLI_BUNDLE=off runs tsc's output.
 * The other commands run tsc's output (the daemon's memory with the bundle is not measured).
 */
function cliEntry(command: string | undefined): string {
  const unbundled = '../api/cli/main.js';
  if (command !== 'init' || process.env.PIDVISOR_CLI_BUNDLE === 'off') return unbundled;
  const bundle = new URL('../cli-bundle/main.js', import.meta.url);
  try {
    return fs.statSync(bundle).mtimeMs >= fs.statSync(new URL(import.meta.url)).mtimeMs ? bundle.href : unbundled;
  } catch {
    return unbundled; // not built (tsc alone)
  }
}
