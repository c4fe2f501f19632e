// Problems of config entries that the schema cannot see: a user or group this host does not
// have, an unknown signal name, a kill mode this host cannot give, a dependsOn that names no
// entry of the file or closes a cycle. Found by defining each
// service (defineService) before anything is applied, by a reload and by `pidvisor check`.
// Kept apart from config.ts, which loads the YAML parser: the supervisor needs only this.
import { defineService, type DefinitionContext, type ServiceDefinition } from './definition.js';
import { graphProblems } from './dependency-graph.js';
import { SupervisorError } from './errors.js';
import type { ServiceSpec } from './spec.js';

/** A problem of one entry; config.ts gives it a line and column in the file. */
export interface EntryProblem {
  service: string;
  /** JSON pointer into the entry: /user, /restart/maxDelayMs; '' for the entry itself. */
  field: string;
  message: string;
}

/** Defines every entry; the definitions, or every problem found (nothing is applied then). */
export function defineEntries(services: Readonly<Record<string, ServiceSpec>>, context: DefinitionContext): { definitions: Map<string, ServiceDefinition>; problems: EntryProblem[] } {
  const definitions = new Map<string, ServiceDefinition>();
  const problems: EntryProblem[] = [];
  for (const [name, spec] of Object.entries(services)) {
    try {
      definitions.set(name, defineService(spec, context));
    } catch (error) {
      problems.push(...entryProblemsOf(name, error));
    }
  }
  problems.push(...dependencyProblems(services));
  return { definitions, problems };
}

/**
 * A config's entries may depend only on entries of the same file: the file then means the
 * same on every daemon, and `pidvisor check` can tell without one. The problem sits on the
 * dependsOn key that names the missing entry, or the next service of the cycle.
 */
function dependencyProblems(services: Readonly<Record<string, ServiceSpec>>): EntryProblem[] {
  // An entry the schema refused may have anything there: its own problem says so.
  const namesIn = (dependsOn: unknown): string[] => (typeof dependsOn === 'object' && dependsOn !== null && !Array.isArray(dependsOn) ? Object.keys(dependsOn) : []);
  const graph = new Map(Object.entries(services).map(([name, spec]) => [name, namesIn(spec.dependsOn)]));
  return graphProblems(graph, (name) => graph.has(name)).map((problem) => ({
    service: problem.service,
    field: `/dependsOn/${problem.dependency.replaceAll('~', '~0').replaceAll('/', '~1')}`,
    message: problem.kind === 'unknown' ? `${problem.message} in this file` : problem.message,
  }));
}

/** The CONFIG_INVALID error of entry problems (the daemon locates them in the file). */
export function entriesRefused(problems: readonly EntryProblem[]): SupervisorError {
  const list = problems.map((p) => `services.${p.service}${p.field.replaceAll('/', '.')}: ${p.message}`).join('; ');
  return new SupervisorError('CONFIG_INVALID', `config refused: ${list}`, { entryProblems: problems });
}

const FIELD_OF_CODE: Readonly<Record<string, string>> = { UNKNOWN_USER: '/user', UNKNOWN_GROUP: '/group', CGROUP_UNAVAILABLE: '/killMode' };

function entryProblemsOf(service: string, error: unknown): EntryProblem[] {
  if (!(error instanceof SupervisorError)) throw error;
  const listed = error.details.problems as Array<{ path: string; message: string }> | undefined;
  if (error.code === 'INVALID_SPEC' && listed !== undefined) {
    return listed.map((p) => ({ service, field: p.path === '/' ? '' : p.path, message: p.message }));
  }
  return [{ service, field: FIELD_OF_CODE[error.code] ?? '', message: error.message }];
}
