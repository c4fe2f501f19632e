#!/usr/bin/env node
// The `pidvisor` command.
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
const { runCli } = await import('../api/cli/main.js');
process.exitCode = await runCli(process.argv.slice(2));
