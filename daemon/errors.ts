// Errors of the supervisor, each with a stable code. The API maps codes to HTTP statuses in
// one catalogue (api/errors.ts); the CLI prints the message.

export type SupervisorErrorCode =
  | 'SERVICE_NOT_FOUND'
  | 'NAME_TAKEN'
  | 'INVALID_SPEC'
  | 'UNKNOWN_USER'
  | 'UNKNOWN_GROUP'
  | 'SPAWN_FAILED'
  | 'ALREADY_RUNNING'
  | 'STOPPING'
  | 'REMOVING'
  | 'NOT_RUNNING'
  | 'INSTANCE_MISMATCH'
  | 'CGROUP_UNAVAILABLE'
  | 'CONFIG_INVALID'
  | 'NO_CONFIG'
  | 'SHUTTING_DOWN'
  | 'DEPENDENCY_UNKNOWN'
  | 'DEPENDENCY_CYCLE'
  | 'DEPENDENCY_UNAVAILABLE'
  | 'NOT_READY'
  | 'NO_KEEPER'
  | 'HANDING_OVER';

export class SupervisorError extends Error {
  override name = 'SupervisorError';
  readonly code: SupervisorErrorCode;
  /** Structured details for clients (errno name, stage, validation problems, ...). */
  readonly details: Record<string, unknown>;

  constructor(code: SupervisorErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.details = details;
  }
}
