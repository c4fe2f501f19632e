#!/usr/bin/env node
// The `pidvisor` command.
import { runCli } from '../api/cli/main.js';

process.exitCode = await runCli(process.argv.slice(2));
