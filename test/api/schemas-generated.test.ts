// The schemas the daemon loads (api/server/schemas.generated.ts, written at build time by
// tools/generate-schemas.ts) are the TypeBox definitions of api/server/schemas.ts as plain
// objects: the same JSON, and the same objects shared in the same places (openapi.ts turns a
// shared schema into a component $ref by its identity), with none of TypeBox's symbol keys.
import { describe, expect, it } from 'vitest';
import * as generated from '../../api/server/schemas.generated.js';
import * as definitions from '../../api/server/schemas.js';

const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null;

/** Definitions' exports that are data (the generator leaves functions out). */
const exported = Object.entries(definitions).filter(([, value]) => typeof value !== 'function');

describe('the generated schemas', () => {
  it('export every schema and constant of the definitions, as the same JSON', () => {
    expect(Object.keys(generated).sort()).toEqual(exported.map(([name]) => name).sort());
    for (const [name, value] of exported) expect(JSON.stringify((generated as Record<string, unknown>)[name]), name).toBe(JSON.stringify(value));
  });

  it('share an object wherever the definitions share one, and nowhere else', () => {
    const toGenerated = new Map<object, object>();
    const toDefinition = new Map<object, object>();
    const walk = (definition: unknown, copy: unknown, where: string): void => {
      if (!isObject(definition)) return;
      expect(isObject(copy), where).toBe(true);
      const known = toGenerated.get(definition);
      if (known !== undefined) {
        expect(known === copy, `${where}: one object in the definitions, several in the generated module`).toBe(true);
        return;
      }
      expect(toDefinition.has(copy as object), `${where}: one object in the generated module, several in the definitions`).toBe(false);
      toGenerated.set(definition, copy as object);
      toDefinition.set(copy as object, definition);
      expect(Object.getOwnPropertySymbols(copy), `${where}: TypeBox's symbol keys`).toEqual([]);
      for (const key of Object.keys(definition)) walk((definition as Record<string, unknown>)[key], (copy as Record<string, unknown>)[key], `${where}.${key}`);
    };
    for (const [name, value] of exported) walk(value, (generated as Record<string, unknown>)[name], name);
    // Shared schemas are there to be found: the components, and members used twice.
    expect(toGenerated.size).toBeGreaterThan(100);
    expect(generated.COMPONENTS.ProcessInfo).toBe(generated.ProcessInfo);
    expect(generated.ProcessList.properties.processes.items).toBe(generated.ProcessInfo);
  });
});
