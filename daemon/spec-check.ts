// Checking a service spec (a config entry, a launch) without loading TypeBox: the check is
// TypeBox's own compiled code for ServiceSpec (spec-check.generated.ts), so it accepts exactly
// what Value.Check accepts. Only a spec that fails is explained, by TypeBox's Value.Errors as
// before, so every message stays the same. TypeBox's 247 modules cost a third of
// `pidvisor init --config`'s start-up (bench/init); a valid config no longer pays for them.
import { createRequire } from 'node:module';
import type { TSchema } from '@sinclair/typebox';
import type { ValueError } from '@sinclair/typebox/value';
import { checkServiceSpec, SERVICE_SPEC_SCHEMA_JSON, SYMBOL_KEY_PREFIX } from './spec-check.generated.js';

export interface SchemaProblem {
  path: string;
  message: string;
}

/** TypeBox's value module, loaded when a spec first fails its check. */
export type TypeBoxValue = typeof import('@sinclair/typebox/value');

let typeBoxValue: TypeBoxValue | null = null;

/**
 * Loaded synchronously (its CommonJS build: an ES module cannot be loaded synchronously on
 * Node 20) because every caller of a check is synchronous. Its ValueErrorType and ValueError
 * are TypeBox's, whichever build loaded them: the schema's kinds are registered symbols.
 */
export function loadTypeBoxValue(): TypeBoxValue {
  typeBoxValue ??= createRequire(import.meta.url)('@sinclair/typebox/value') as TypeBoxValue;
  return typeBoxValue;
}

let schema: TSchema | null = null;

/** ServiceSpec again, from the generated JSON: the symbols TypeBox reads put back. */
function serviceSpecSchema(): TSchema {
  schema ??= JSON.parse(SERVICE_SPEC_SCHEMA_JSON, (_key, value: unknown) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    const node = value as Record<string | symbol, unknown>;
    for (const key of Object.keys(node)) {
      if (!key.startsWith(SYMBOL_KEY_PREFIX)) continue;
      node[Symbol.for(key.slice(SYMBOL_KEY_PREFIX.length))] = node[key];
      delete node[key];
    }
    return node;
  }) as TSchema;
  return schema;
}

/** The first `max` errors of `value` as a ServiceSpec, as TypeBox's Value.Errors gives them; none when valid. */
export function serviceSpecErrors(value: unknown, max: number): ValueError[] {
  if (checkServiceSpec(value)) return [];
  const errors: ValueError[] = [];
  for (const error of loadTypeBoxValue().Value.Errors(serviceSpecSchema(), value)) {
    if (errors.length >= max) break;
    errors.push(error);
  }
  return errors;
}

/** Every problem (the first 20) with `value` as a ServiceSpec, as `/path: message`; empty when valid. */
export function serviceSpecProblems(value: unknown): SchemaProblem[] {
  return serviceSpecErrors(value, 20).map((error) => ({ path: error.path || '/', message: error.message }));
}
