// The declarative config: a YAML file of services, each validated with the same schema as
// the API's launch body.
//
//   services:
//     web:
//       command: [python3, -m, http.server, "8080"]
//       restart: { policy: always }
//
// A refused file says, for each problem, where (line and column, from the YAML parser's
// node ranges), which field (the path, as services.web.restart.policy) and what is allowed
// there (the values of an enumeration, the fields of an object), never only "Expected union
// value".
import fs from 'node:fs';
import type { TSchema } from '@sinclair/typebox';
import type { ValueError, ValueErrorType } from '@sinclair/typebox/value';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { EntryProblem } from './config-problems.js';
import { SupervisorError } from './errors.js';
import type { ConfigChanges, Supervisor } from './supervisor.js';
import { NAME_PATTERN } from './service-name.js';
import { loadTypeBoxValue, serviceSpecErrors } from './spec-check.js';
import type { ServiceSpec } from './spec.js';

export interface Config {
  services: Record<string, ServiceSpec>;
}

/** One reason a config file is refused. */
export interface ConfigProblem {
  /** The field, from the top of the file: services.web.restart.policy ('' for the file). */
  path: string;
  /** 1-based position of that field in the file; null when it has none (a missing field: its parent's). */
  line: number | null;
  column: number | null;
  message: string;
  /** What the field may be: the values of an enumeration, the fields of an object. */
  allowed?: string[];
}

/** A parsed and validated file, which can still say where its entries are. */
export interface ConfigFile extends Config {
  file: string;
  /** Entry problems (found later, when the services are defined) as located config problems. */
  locate(problems: readonly EntryProblem[]): ConfigProblem[];
}

const TOP_LEVEL_KEYS = new Set(['services']);
const MAX_PROBLEMS = 20;

/** Reads and validates a config file; throws CONFIG_INVALID with `problems` (ConfigProblem[]). */
export function loadConfig(file: string): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw invalid(file, [{ path: '', line: null, column: null, message: `cannot read the file: ${(error as Error).message}` }]);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file = '<config>'): ConfigFile {
  const lines = new LineCounter();
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true, lineCounter: lines });
  if (document.errors.length > 0) {
    throw invalid(
      file,
      document.errors.slice(0, MAX_PROBLEMS).map((error) => ({
        path: '',
        line: error.linePos?.[0].line ?? null,
        column: error.linePos?.[0].col ?? null,
        message: error.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, ''),
      })),
    );
  }
  const where = (segments: ReadonlyArray<string | number>): Pick<ConfigProblem, 'line' | 'column'> => locate(document, lines, segments);
  const at = (segments: ReadonlyArray<string | number>, message: string, allowed?: string[]): ConfigProblem => ({
    path: segments.join('.'),
    ...where(segments),
    message,
    ...(allowed === undefined ? {} : { allowed }),
  });
  const root: unknown = document.toJS() ?? {};
  if (typeof root !== 'object' || root === null || Array.isArray(root)) {
    throw invalid(file, [at([], 'the top level must be a mapping with a "services" key', [...TOP_LEVEL_KEYS])]);
  }
  const problems: ConfigProblem[] = [];
  for (const key of Object.keys(root)) if (!TOP_LEVEL_KEYS.has(key)) problems.push(at([key], `unknown top-level key ${JSON.stringify(key)}`, [...TOP_LEVEL_KEYS]));
  const services = (root as { services?: unknown }).services ?? {};
  if (typeof services !== 'object' || services === null || Array.isArray(services)) {
    problems.push(at(['services'], '"services" must be a mapping of name to service'));
  } else {
    for (const [name, spec] of Object.entries(services)) {
      if (!new RegExp(NAME_PATTERN).test(name)) problems.push(at(['services', name], `service name ${JSON.stringify(name)} is not a valid name: letters, digits, "_", ".", "-", at most 63 characters`));
      if (typeof spec === 'object' && spec !== null && 'name' in spec && (spec as { name: unknown }).name !== name) {
        problems.push(at(['services', name, 'name'], 'must be omitted or equal to the key'));
      }
      const withName = typeof spec === 'object' && spec !== null ? { ...spec, name } : spec;
      for (const error of serviceSpecErrors(withName, MAX_PROBLEMS)) {
        // A missing field is reported once, as required, not also as of the wrong type.
        if (error.value === undefined && error.type !== loadTypeBoxValue().ValueErrorType.ObjectRequiredProperty) continue;
        const described = describe(error);
        problems.push(at(['services', name, ...pointerSegments(error.path)], described.message, described.allowed));
      }
    }
  }
  if (problems.length > 0) throw invalid(file, byPosition(problems).slice(0, MAX_PROBLEMS));
  const named: Record<string, ServiceSpec> = {};
  for (const [name, spec] of Object.entries(services as Record<string, ServiceSpec>)) named[name] = { ...spec, name };
  return {
    file,
    services: named,
    locate: (entryProblems) => entryProblems.map((p) => at(['services', p.service, ...pointerSegments(p.field)], p.message)),
  };
}

/** Applies a loaded file; the problems of a refusal come back located in the file. */
export async function applyConfigFile(supervisor: Pick<Supervisor, 'applyConfig'>, config: ConfigFile): Promise<ConfigChanges> {
  try {
    return await supervisor.applyConfig(config.services);
  } catch (error) {
    const entryProblems = error instanceof SupervisorError && error.code === 'CONFIG_INVALID' ? (error.details.entryProblems as EntryProblem[] | undefined) : undefined;
    if (entryProblems === undefined) throw error;
    throw invalid(config.file, byPosition(config.locate(entryProblems)));
  }
}

/** The CONFIG_INVALID error of a refused file: its message lists every problem, one per line. */
function invalid(file: string, problems: ConfigProblem[]): SupervisorError {
  return new SupervisorError('CONFIG_INVALID', `${file}: refused:\n${problems.map((p) => `  ${formatProblem(file, p)}`).join('\n')}`, { file, problems });
}

/** `FILE:LINE:COLUMN: services.web.restart.policy: must be one of "no", ... (allowed: ...)` */
function formatProblem(file: string, problem: ConfigProblem): string {
  const where = problem.line === null ? file : `${file}:${problem.line}:${problem.column}`;
  const field = problem.path === '' ? '' : `${problem.path}: `;
  return `${where}: ${field}${problem.message}`;
}

/** In the order of the file; problems with no position last. */
export function byPosition(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const key = (p: ConfigProblem): number => (p.line === null ? Number.MAX_SAFE_INTEGER : p.line * 100_000 + (p.column ?? 0));
  return [...problems].sort((a, b) => key(a) - key(b));
}

/** An error of the schema in words, with what is allowed there when the schema says. */
function describe(error: ValueError): { message: string; allowed?: string[] } {
  // TypeBox is loaded: the error is its.
  const { ValueErrorType } = loadTypeBoxValue();
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    const field = error.path.split('/').at(-1) ?? '';
    const known = error.schema.properties === undefined ? undefined : Object.keys(error.schema.properties as object);
    return known === undefined
      ? { message: `${JSON.stringify(unescapePointer(field))} is not an allowed key here` }
      : { message: `unknown field ${JSON.stringify(unescapePointer(field))}; allowed: ${known.join(', ')}`, allowed: known };
  }
  if (error.type === ValueErrorType.ObjectRequiredProperty) return { message: 'is required' };
  const members = (error.schema.anyOf as TSchema[] | undefined) ?? null;
  if (members !== null && members.every((member) => member.const !== undefined)) {
    const allowed = members.map((member) => String(member.const));
    const got = typeof error.value === 'string' || typeof error.value === 'number' || typeof error.value === 'boolean' ? ` (got ${JSON.stringify(error.value)})` : '';
    return { message: `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}${got}`, allowed };
  }
  if (members !== null) return { message: `must be ${members.map(expected).join(', or ')}` };
  if (isTypeError(error.type, ValueErrorType)) return { message: `must be ${expected(error.schema)}, not ${kindOf(error.value)}` };
  return { message: error.message };
}

function isTypeError(type: ValueErrorType, types: typeof ValueErrorType): boolean {
  return [types.Array, types.Boolean, types.Integer, types.Number, types.Object, types.String].includes(type);
}

// What a YAML value is, in the words of the messages (the value itself may be a secret).
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  if (typeof value === 'boolean') return `the boolean ${String(value)}`;
  return `a ${typeof value}`;
}

// A schema as words: "an integer from 1 to 64", "a string".
function expected(schema: TSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const range = (low: unknown, high: unknown): string =>
    low !== undefined && high !== undefined ? ` from ${String(low)} to ${String(high)}` : low !== undefined ? ` of at least ${String(low)}` : high !== undefined ? ` of at most ${String(high)}` : '';
  switch (schema.type) {
    case 'integer':
      return `an integer${range(schema.minimum, schema.maximum)}`;
    case 'number':
      return `a number${range(schema.minimum, schema.maximum)}`;
    case 'string':
      return schema.minLength !== undefined && schema.minLength > 0 ? 'a non-empty string' : 'a string';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object':
      return 'a mapping';
    default:
      return 'a valid value';
  }
}

function pointerSegments(pointer: string): string[] {
  return pointer === '' || pointer === '/' ? [] : pointer.slice(1).split('/').map(unescapePointer);
}

function unescapePointer(segment: string): string {
  return segment.replaceAll('~1', '/').replaceAll('~0', '~');
}

/**
 * Line and column of the deepest node of `segments` present in the document: the key of a
 * mapping entry (so a problem about `policy: sometimes` points at `policy`), the item of a
 * list, or the parent of a field that is missing.
 */
function locate(document: Document, lines: LineCounter, segments: ReadonlyArray<string | number>): Pick<ConfigProblem, 'line' | 'column'> {
  let node: unknown = document.contents;
  let offset: number | null = rangeStart(node);
  for (const segment of segments) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment));
      if (pair === undefined) break;
      offset = rangeStart(pair.key) ?? rangeStart(pair.value) ?? offset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(segment)];
      if (item === undefined) break;
      offset = rangeStart(item) ?? offset;
      node = item;
    } else {
      break;
    }
  }
  if (offset === null) return { line: null, column: null };
  const position = lines.linePos(offset);
  return { line: position.line, column: position.col };
}

function rangeStart(node: unknown): number | null {
  return (node as Node | null)?.range?.[0] ?? null;
}
