// Dependencies as text: the `needs` line of `status` and `show` (and the NEEDS column of
// `pidvisor graph`), and the lines under `ps` that say why a process waits.
import type { ServiceInfo } from '../supervisor-api.js';

type Edge = ServiceInfo['dependencies'][number];

/** `db ready: met; migrate completedSuccessfully: blocked (migrate is exited (...))` */
export function describeDependencies(dependencies: readonly Edge[]): string {
  if (dependencies.length === 0) return '-';
  return dependencies
    .map((d) => `${d.name} ${d.condition}${d.restart === 'propagate' ? ' (propagate)' : ''}: ${d.status}${d.status === 'met' ? '' : ` (${d.reason})`}`)
    .join('; ');
}

/** One line per waiting or blocked process, with why; empty when none waits. */
export function parkedLines(processes: ReadonlyArray<Pick<ServiceInfo, 'id' | 'name' | 'state' | 'reason'>>): string[] {
  return processes.filter((p) => p.state === 'waiting' || p.state === 'blocked').map((p) => `${p.name ?? p.id} ${p.state}: ${p.reason}`);
}
