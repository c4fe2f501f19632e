#!/usr/bin/env node
// The `pidvisor` command.
import { keepInspectorClosed } from '../daemon/inspector-signals.js';

// Before anything else loads (the CLI, the addon, fastify: tens of milliseconds): until a
// SIGUSR1 listener exists, that signal opens Node's inspector to every local user.
keepInspectorClosed();
const { runCli } = await import('../api/cli/main.js');
process.exitCode = await runCli(process.argv.slice(2));
