// `pidvisor check`: everything a daemon would refuse in a config file, found without a
// daemon. The same checks as a load (config.ts) and a reload (the supervisor defines every
// entry first), against this host: its users and groups, its cgroup v2 mount.
import { capabilities } from '../native/index.js';
import { byPosition, loadConfig, type ConfigProblem } from './config.js';
import { defineEntries } from './config-problems.js';
import { SupervisorError } from './errors.js';

export interface CheckResult {
  file: string;
  ok: boolean;
  /** The services of the file, when it parsed. */
  services: string[];
  problems: ConfigProblem[];
}

export function checkConfigFile(file: string): CheckResult {
  let config;
  try {
    config = loadConfig(file);
  } catch (error) {
    if (!(error instanceof SupervisorError && error.code === 'CONFIG_INVALID')) throw error;
    return { file, ok: false, services: [], problems: error.details.problems as ConfigProblem[] };
  }
  // As a daemon on this host would define them (it may still find its cgroup subtree
  // unusable, which only a running daemon can tell).
  const mount = capabilities().cgroup2Mount;
  const context = { defaultKillMode: mount === null ? ('group' as const) : ('cgroup' as const), cgroupUnavailable: mount === null ? 'no cgroup v2 hierarchy is mounted' : null, baseEnv: null };
  const { problems } = defineEntries(config.services, context);
  const located = byPosition(config.locate(problems));
  return { file, ok: located.length === 0, services: Object.keys(config.services), problems: located };
}
