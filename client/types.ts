// The client's types, taken from the TypeBox schemas the daemon validates requests with and
// documents responses with (api/server/schemas.ts), so the two cannot drift apart.
import type { Static } from '@sinclair/typebox';
import type * as Schemas from '../api/server/schemas.js';
import type { SupervisorEvent } from '../daemon/events.js';

/** A process to launch: the daemon's ServiceSpec, as for config file entries. */
export type LaunchSpec = Static<typeof Schemas.LaunchBody>;
export type ProcessInfo = Static<typeof Schemas.ProcessInfo>;
export type ExitRecord = Static<typeof Schemas.ExitRecord>;
export type ProcessInspection = Static<typeof Schemas.ProcessInspection>;
export type SignalRequest = Static<typeof Schemas.SignalBody>;
/** Stop and restart: a timeout before SIGKILL, and the instance they are about (else 409 INSTANCE_MISMATCH, nothing done). */
export type StopRequest = NonNullable<Static<typeof Schemas.StopBody>>;
/** A one-time sign-in to the web dashboard (what `pidvisor ui` prints). */
export type DashboardTicket = Static<typeof Schemas.Ticket>;
export type SignalResult = Static<typeof Schemas.SignalResult>;
export type WaitResult = Static<typeof Schemas.WaitResult>;
export type SystemInfo = Static<typeof Schemas.SystemInfo>;
export type Health = Static<typeof Schemas.Health>;
export type ConfigChanges = Static<typeof Schemas.ConfigChanges>;
/** A hand-over to a new daemon has begun (POST /v1/system/reexec). */
export type ReexecAccepted = Static<typeof Schemas.ReexecAnswer>;
/** Processes, their dependsOn edges with whether each holds now and why not, and the start order. */
export type DependencyGraph = Static<typeof Schemas.DependencyGraph>;
export type ConfigProblem = Static<typeof Schemas.ConfigProblem>;
/** One record of captured output as the API sends it (`data` base64). */
export type LogLine = Static<typeof Schemas.LogLine>;
export type { SupervisorEvent };

/** One record of captured output, its bytes decoded. */
export interface LogRecord {
  seq: number;
  time: string;
  stream: 'stdout' | 'stderr';
  /** A piece of a line: cut because too long, not ended in time, or the last bytes at EOF. */
  partial: boolean;
  data: Buffer;
}

/** Events the daemon's log no longer holds were skipped: those after `after`, before `oldest`. */
export interface EventGap {
  type: 'gap';
  after: number;
  oldest: number;
}

/** The daemon numbers its events anew (its event log was lost): what follows is replayed from its first. */
export interface EventReset {
  type: 'reset';
  after: number;
  lastSeq: number;
}

/** What the event stream yields: the events, and the two notices about what it could not give. */
export type StreamedEvent = SupervisorEvent | EventGap | EventReset;
