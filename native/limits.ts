// The daemon's own resource limits (Node has no setrlimit).
import type { RawErrnoError } from './binding.js';
import { binding } from './load.js';
import { SystemError } from './errors.js';
import { RLIMITS, type RlimitName } from './spawn.js';

export interface ResourceLimit {
  /** null is unlimited. */
  soft: number | null;
  hard: number | null;
}

const fromRaw = (value: number): number | null => (value < 0 ? null : value);

export function getResourceLimit(name: RlimitName): ResourceLimit {
  const [soft, hard] = binding.getResourceLimit(RLIMITS[name]);
  return { soft: fromRaw(soft), hard: fromRaw(hard) };
}

/**
 * Raises the soft limit to the hard one and returns the result. A supervisor of thousands
 * of services holds a pidfd and two pipes for each; the default soft limit is often 1024.
 */
export function raiseSoftLimitToHard(name: RlimitName): ResourceLimit {
  const [, hard] = binding.getResourceLimit(RLIMITS[name]);
  try {
    binding.setResourceLimit(RLIMITS[name], hard, hard);
  } catch (error) {
    throw SystemError.from(error as RawErrnoError);
  }
  return getResourceLimit(name);
}
