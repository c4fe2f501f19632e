// What a config reload changed in a service: the paths of the fields whose values differ,
// as people write them in the file (command, restart.policy, env.PATH), down to the
// leaves. A list is one field (command, not command.2): its items mean something only together.
import { isDeepStrictEqual } from 'node:util';
import type { ServiceSpec } from './spec.js';

/** The fields that differ between two specs, sorted; empty when they define the same service. */
export function changedFields(before: ServiceSpec, after: ServiceSpec): string[] {
  const fields: string[] = [];
  collect(before, after, '', fields);
  return fields.sort();
}

function collect(before: unknown, after: unknown, prefix: string, fields: string[]): void {
  // A mapping added or removed whole names its fields: restart.policy, not restart.
  if (before === undefined && isPlainObject(after)) before = {};
  if (after === undefined && isPlainObject(before)) after = {};
  if (isPlainObject(before) && isPlainObject(after)) {
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      collect(before[key], after[key], prefix === '' ? key : `${prefix}.${key}`, fields);
    }
    return;
  }
  if (!isDeepStrictEqual(before, after)) fields.push(prefix);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
