// The programs compared as PID 1, each given the same main command. supervisord needs a
// config file and is driven by supervisord.ts instead.
import fs from 'node:fs';
import path from 'node:path';
import { benchDir, pidvisorCli, pidvisorInitBin, servicesArgs, settings } from './config.js';

const beforeInitBin = settings.before === null ? null : path.join(settings.before, 'build', 'Release', 'pidvisor-init');

export type TargetId = 'baseline' | 'tini' | 'dumb-init' | 'pidvisor-init' | 'pidvisor' | 'pidvisor-services' | 'pidvisor-service' | 'pidvisor-cli-services' | 'pidvisor-services-before' | 'native-init' | 'node';

/** The targets whose PID 1 is the keeper with a Node init under it (not measured for memory). */
export const SERVICES_TARGETS: ReadonlySet<TargetId> = new Set(['pidvisor-services', 'pidvisor-service', 'pidvisor-cli-services', 'pidvisor-services-before']);

export interface Target {
  id: TargetId;
  label: string;
  /** The argv that runs `command` under this init (as PID 1 once wrapped by asPid1). */
  argv(command: readonly string[]): string[];
  /** Why it cannot run here, or null. */
  missing(): string | null;
}

const exists = (file: string, hint: string) => (): string | null => (fs.existsSync(file) ? null : `${file} not found (${hint})`);

// The floor of any Node init: start Node, child_process.spawn the command, exit with its code.
const NODE_FLOOR = "const c=require('node:child_process').spawn(process.argv[1],process.argv.slice(2),{stdio:'inherit'});c.on('exit',(code)=>process.exit(code??1))";

export const TARGETS: readonly Target[] = [
  { id: 'baseline', label: 'no init (the command is PID 1)', argv: (command) => [...command], missing: () => null },
  { id: 'tini', label: 'tini', argv: (command) => [settings.tini, '--', ...command], missing: exists(settings.tini, 'apt-get install tini') },
  { id: 'dumb-init', label: 'dumb-init', argv: (command) => [settings.dumbInit, '--', ...command], missing: exists(settings.dumbInit, 'apt-get install dumb-init') },
  // The container entry point: native from its first instruction, no Node started.
  { id: 'pidvisor-init', label: 'pidvisor-init (native)', argv: (command) => [pidvisorInitBin, '--', ...command], missing: exists(pidvisorInitBin, 'npx node-gyp rebuild') },
  // Through the Node CLI: Node's start-up, then an exec into the same native init.
  { id: 'pidvisor', label: 'pidvisor init (node CLI)', argv: (command) => [process.execPath, pidvisorCli, 'init', '--', ...command], missing: exists(pidvisorCli, 'npx tsc -p tsconfig.build.json') },
  // With services asked for (an empty config): the keeper starts the Node init.
  {
    id: 'pidvisor-services',
    label: 'pidvisor-init --config (Node init, services)',
    argv: (command) => [pidvisorInitBin, ...servicesArgs(), '--', ...command],
    missing: exists(pidvisorInitBin, 'npx node-gyp rebuild'),
  },
  {
    id: 'pidvisor-service',
    label: 'pidvisor-init --config (one service)',
    argv: (command) => [pidvisorInitBin, ...servicesArgs('one'), '--', ...command],
    missing: exists(pidvisorInitBin, 'npx node-gyp rebuild'),
  },
  // The same through the Node CLI: a first Node execs the keeper, which starts the Node init.
  {
    id: 'pidvisor-cli-services',
    label: 'pidvisor init --config (node CLI)',
    argv: (command) => [process.execPath, pidvisorCli, 'init', ...servicesArgs(), '--', ...command],
    missing: exists(pidvisorCli, 'npx tsc -p tsconfig.build.json'),
  },
  // The same as pidvisor-services, from the checkout in BENCH_INIT_BEFORE: before/after in one run.
  {
    id: 'pidvisor-services-before',
    label: 'pidvisor-init --config, BENCH_INIT_BEFORE',
    argv: (command) => [beforeInitBin ?? 'BENCH_INIT_BEFORE', ...servicesArgs(), '--', ...command],
    missing: () => (beforeInitBin === null ? 'BENCH_INIT_BEFORE is not set' : exists(beforeInitBin, 'build that checkout')()),
  },
  {
    id: 'native-init',
    label: 'node + addon only (bench/init/native-init)',
    argv: (command) => [process.execPath, path.join(benchDir, 'native-init.js'), ...command],
    missing: exists(path.join(benchDir, 'native-init.js'), 'npx tsc -p tsconfig.build.json'),
  },
  { id: 'node', label: 'node -e (child_process.spawn)', argv: (command) => [process.execPath, '-e', NODE_FLOOR, ...command], missing: () => null },
];
