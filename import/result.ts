// What an importer produces: the services in pidvisor's schema, the comments worth keeping
// beside them, and every setting of the source that did not come across as it was.
import { NAME_PATTERN } from '../daemon/service-name.js';
import type { ServiceSpec } from '../daemon/spec.js';

export const FORMATS = ['supervisord', 'pm2', 'process-compose'] as const;
export type Format = (typeof FORMATS)[number];

export interface ImportNote {
  /**
   * unmapped: pidvisor has no equivalent and the setting was left out;
   * approximated: mapped, but pidvisor behaves differently in the way `reason` says.
   */
  kind: 'unmapped' | 'approximated';
  /** The file and line it was set at, where the format has lines: /etc/supervisor/conf.d/web.conf:4. */
  at: string;
  /** The entry it belongs to in the source's terms: [program:web], apps[0] (api), processes.db. */
  entry: string;
  setting: string;
  reason: string;
}

export interface ImportedService {
  name: string;
  spec: Omit<ServiceSpec, 'name'>;
  /** Comment lines written above the service: the source's own, then the importer's. */
  comments: string[];
}

export interface ImportResult {
  format: Format;
  file: string;
  services: ImportedService[];
  notes: ImportNote[];
}

/** An import the source's own tool would refuse too (a syntax error, a bad value). */
export class ImportError extends Error {}

/**
 * A pidvisor service name for `wanted`: characters pidvisor does not allow become '_', and it
 * is cut to 63 characters; a name already `taken` gets -2, -3, ... Says so in `notes`.
 */
export function serviceName(wanted: string, taken: ReadonlySet<string>, note: (reason: string) => void): string {
  let name = wanted.replace(/[^A-Za-z0-9_.-]/gu, '_').replace(/^[^A-Za-z0-9]/u, 'x').slice(0, 63);
  if (name === '') name = 'service';
  const base = name;
  for (let suffix = 2; taken.has(name); suffix++) name = `${base.slice(0, 63 - String(suffix).length - 1)}-${suffix}`;
  if (!new RegExp(NAME_PATTERN).test(name)) throw new Error(`internal: ${JSON.stringify(name)} is not a service name`);
  if (name !== wanted) note(`the name ${JSON.stringify(wanted)} is not a pidvisor service name (letters, digits, "_", ".", "-", at most 63, unique): the service is ${JSON.stringify(name)}`);
  return name;
}
