// The declarative config: a YAML file of services, each validated with the same schema as
// the API's launch body.
//
//   services:
//     web:
//       command: [python3, -m, http.server, "8080"]
//       restart: { policy: always }
import fs from 'node:fs';
import { parseDocument } from 'yaml';
import { SupervisorError } from './errors.js';
import { NAME_PATTERN, schemaProblems, ServiceSpec } from './spec.js';

export interface Config {
  services: Record<string, ServiceSpec>;
}

const TOP_LEVEL_KEYS = new Set(['services']);

/** Reads and validates a config file; throws CONFIG_INVALID naming the file, entry and field. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new SupervisorError('CONFIG_INVALID', `cannot read config ${file}: ${(error as Error).message}`, { file });
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file = '<config>'): Config {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new SupervisorError('CONFIG_INVALID', `${file}: ${document.errors.map((e) => e.message).join('; ')}`, { file });
  }
  const root: unknown = document.toJS() ?? {};
  const problems: string[] = [];
  if (typeof root !== 'object' || root === null || Array.isArray(root)) {
    throw new SupervisorError('CONFIG_INVALID', `${file}: the top level must be a mapping with a "services" key`, { file });
  }
  for (const key of Object.keys(root)) if (!TOP_LEVEL_KEYS.has(key)) problems.push(`unknown top-level key ${JSON.stringify(key)}`);
  const services = (root as { services?: unknown }).services ?? {};
  if (typeof services !== 'object' || services === null || Array.isArray(services)) {
    problems.push('"services" must be a mapping of name to service');
  } else {
    for (const [name, spec] of Object.entries(services)) {
      if (!new RegExp(NAME_PATTERN).test(name)) problems.push(`service name ${JSON.stringify(name)} is not a valid name`);
      if (typeof spec === 'object' && spec !== null && 'name' in spec && (spec as { name: unknown }).name !== name) {
        problems.push(`services.${name}.name must be omitted or equal to the key`);
      }
      const withName = typeof spec === 'object' && spec !== null ? { ...spec, name } : spec;
      for (const problem of schemaProblems(ServiceSpec, withName)) problems.push(`services.${name}${problem.path.replaceAll('/', '.')}: ${problem.message}`);
    }
  }
  if (problems.length > 0) {
    throw new SupervisorError('CONFIG_INVALID', `${file}: ${problems.join('; ')}`, { file, problems });
  }
  const named: Record<string, ServiceSpec> = {};
  for (const [name, spec] of Object.entries(services as Record<string, ServiceSpec>)) named[name] = { ...spec, name };
  return { services: named };
}
