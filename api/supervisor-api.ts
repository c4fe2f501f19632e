// The seam between the HTTP API and the daemon: routes depend on this interface only, so
// they can be built around the real Supervisor (daemon/supervisor.ts) or any other.
import type { ConfigChanges, SystemInfo } from '../daemon/supervisor.js';
import type { DependencyGraph } from '../daemon/dependency-tracker.js';
import type { EventLog } from '../daemon/events.js';
import type { ExitRecord, Service, ServiceInfo } from '../daemon/service.js';
import type { SignalLike } from '../native/index.js';

export interface SupervisorApi {
  readonly events: EventLog;
  system(): SystemInfo;
  list(): ServiceInfo[];
  /** By id or name; throws SupervisorError SERVICE_NOT_FOUND. */
  get(ref: string): ServiceInfo;
  /** Brings the `usage` of one service (throws SERVICE_NOT_FOUND) or of all to at most a second old. */
  refreshUsage(ref?: string): Promise<void>;
  /** The service itself, for its logs, definition, cgroup and exits; throws SERVICE_NOT_FOUND. */
  service(ref: string): Pick<Service, 'logs' | 'exits' | 'info' | 'definition' | 'cgroup'>;
  launch(spec: unknown, options?: { origin?: 'api' | 'config'; start?: boolean; waitReady?: { timeoutMs: number | null } }): Promise<ServiceInfo>;
  /** All or nothing; an entry's error carries its `index` in the details. */
  launchMany(specs: readonly unknown[]): Promise<ServiceInfo[]>;
  /** Every service whose labels include all of these (every one with 'all'), stopped and forgotten. */
  removeMatching(labels: Readonly<Record<string, string>> | 'all', timeoutMs?: number): Promise<ServiceInfo[]>;
  start(ref: string): Promise<ServiceInfo>;
  /** With `instance`: only while that instance is the current one (NOT_RUNNING, INSTANCE_MISMATCH). */
  stop(ref: string, timeoutMs?: number, options?: { instance?: string }): Promise<ServiceInfo>;
  restart(ref: string, timeoutMs?: number, options?: { instance?: string }): Promise<ServiceInfo>;
  remove(ref: string, timeoutMs?: number): Promise<ServiceInfo>;
  signal(ref: string, signal: SignalLike, options?: { instance?: string; processGroup?: boolean }): { pid: number; instance: string; signal: number };
  wait(ref: string): Promise<ExitRecord | null>;
  /** Every service, every dependsOn edge with its status now, and the start order. */
  graph(): DependencyGraph;
}

export type { ConfigChanges, SystemInfo, ExitRecord, ServiceInfo };
