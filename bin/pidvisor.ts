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
const { runCli } = (await import(cliEntry())) as typeof import('../api/cli/main.js');
process.exitCode = await runCli(process.argv.slice(2));

/**
 * Every command runs from the bundle of the CLI (tools/bundle-cli.ts: a few chunks instead of
 * ~240 module files), when the bundle is at least as new as this file: tsc rewrites every file
 * it emits, so a rebuild with tsc alone leaves an older bundle, which must not run stale code.
 * PIDVISOR_CLI_BUNDLE=off runs tsc's output. What the bundle saves, measured: an init's
 * start-up (what a container pays), and a daemon's memory: with 200 services 62.3 MiB against
 * 65.0 MiB (VmRSS, three alternating runs each), and it answers /healthz in about half the
 * time. Stack traces then name the chunks: `node --enable-source-maps` maps them back.
 */
function cliEntry(): string {
  const unbundled = '../api/cli/main.js';
  if (process.env.PIDVISOR_CLI_BUNDLE === 'off') return unbundled;
  const bundle = new URL('../cli-bundle/main.js', import.meta.url);
  try {
    return fs.statSync(bundle).mtimeMs >= fs.statSync(new URL(import.meta.url)).mtimeMs ? bundle.href : unbundled;
  } catch {
    return unbundled; // not built (tsc alone)
  }
}
