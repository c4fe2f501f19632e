// The service spec check without TypeBox (daemon/spec-check.ts): its generated checker and
// schema must be today's ServiceSpec, and it must accept, refuse and explain exactly as
// TypeBox's Value does on the schema itself.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serviceSpecErrors, serviceSpecProblems } from '../../daemon/spec-check.js';
import { GENERATED_FILE, generateSpecCheck } from '../../daemon/spec-check-generator.js';
import { checkServiceSpec } from '../../daemon/spec-check.generated.js';
import { ServiceSpec } from '../../daemon/spec.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// A spec with every field set to a valid value: the draws below break some of them.
const FULL_SPEC = {
  name: 'web',
  command: ['/bin/sh', '-c', 'exec sleep 10'],
  env: { MODE: 'fast' },
  clearEnv: false,
  cwd: '/tmp',
  user: 'nobody',
  group: 65534,
  umask: 0o22,
  rlimits: { nofile: { soft: 1024, hard: 4096 }, core: 'unlimited' },
  stdin: 'null',
  stdout: 'capture',
  stderr: 'inherit',
  restart: { policy: 'on-failure', successCodes: [0, 2], initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2, jitter: 0.1, resetAfterMs: 1000, maxRestarts: 3, windowMs: 1000 },
  startGraceMs: 500,
  stopSignal: 'SIGINT',
  stopTimeoutMs: 2000,
  killMode: 'group',
  labels: { tier: 'front' },
  autostart: true,
  readiness: { kind: 'http', url: 'http://127.0.0.1:8080/', status: [200], periodMs: 100 },
  liveness: { kind: 'tcp', port: 8080, failureThreshold: 3 },
  notify: false,
  watchdogMs: 1000,
  dependsOn: { db: { condition: 'ready', restart: 'propagate' } },
};

// Values of every JSON and YAML kind, near the schema's limits too.
const anyValue = fc.oneof(
  fc.constantFrom(null, undefined, true, false, 0, -1, 1, 1.5, 64, 65, 255, 256, 0o777 + 1, 2 ** 53, Number.NaN, '', 'SIGTERM', 'TERM', 'always', 'x\u0000y', 'unlimited', 'ready'),
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.integer({ min: -2, max: 300 })), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('soft', 'hard', 'kind', 'condition', 'policy', 'port', 'x'), fc.oneof(fc.string({ maxLength: 4 }), fc.integer({ min: -1, max: 70_000 })), { maxKeys: 3 }),
  fc.anything({ maxDepth: 2 }),
);

type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; anyOf?: Schema[]; items?: Schema };

/** Values at and just past each limit a schema sets (bounds, lengths, counts, literals). */
function edgeValues(schema: Schema): unknown[] {
  const values: unknown[] = [];
  const num = (key: string): number | undefined => (typeof schema[key] === 'number' ? (schema[key] as number) : undefined);
  for (const bound of [num('minimum'), num('maximum')]) if (bound !== undefined) values.push(bound - 1, bound, bound + 1, bound + 0.5);
  if (schema.type === 'string') {
    for (const length of [num('minLength'), num('maxLength')]) if (length !== undefined) values.push(...[length - 1, length, length + 1].filter((n) => n >= 0).map((n) => 'a'.repeat(n)));
    values.push('a\u0000b', 'SIG', '9');
  }
  if (schema.type === 'array') {
    for (const count of [num('minItems'), num('maxItems')]) if (count !== undefined) values.push(...[count - 1, count, count + 1].filter((n) => n >= 0).map((n) => Array.from({ length: n }, () => (schema.items?.type === 'integer' ? 200 : 'x'))));
  }
  if (schema.const !== undefined) values.push(schema.const, `${String(schema.const)}x`);
  for (const member of schema.anyOf ?? []) values.push(...edgeValues(member));
  return values;
}

/** [path, value] for each edge value of each field of FULL_SPEC, and one level down. */
function edgeCases(): Array<[string[], unknown]> {
  const cases: Array<[string[], unknown]> = [];
  const spec = ServiceSpec as unknown as Schema;
  for (const [key, field] of Object.entries(spec.properties!)) {
    for (const value of edgeValues(field)) cases.push([[key], value]);
    for (const [inner, member] of Object.entries(field.properties ?? {})) for (const value of edgeValues(member)) cases.push([[key, inner], value]);
  }
  return cases;
}

/** FULL_SPEC with some fields (top level or one level down) replaced, removed or added. */
const brokenSpec = fc
  .array(
    fc.record({
      path: fc.oneof(
        fc.constantFrom(...Object.keys(FULL_SPEC), 'unknownField').map((key): string[] => [key]),
        fc.constantFrom<string[]>(
          ['restart', 'policy'],
          ['restart', 'successCodes'],
          ['rlimits', 'nofile'],
          ['rlimits', 'bogus'],
          ['readiness', 'kind'],
          ['readiness', 'url'],
          ['liveness', 'port'],
          ['liveness', 'command'],
          ['dependsOn', 'db'],
          ['env', 'A=B'],
          ['labels', ''],
          ['command', '0'],
        ),
      ),
      value: anyValue,
      remove: fc.boolean(),
    }),
    { minLength: 0, maxLength: 3 },
  )
  .map((edits) => {
    const spec: Record<string, unknown> = structuredClone(FULL_SPEC);
    for (const { path: [first, second], value, remove } of edits) {
      if (second === undefined) {
        if (remove) delete spec[first!];
        else spec[first!] = value;
      } else if (typeof spec[first!] === 'object' && spec[first!] !== null) {
        const inner = spec[first!] as Record<string, unknown>;
        if (remove) delete inner[second];
        else inner[second] = value;
      }
    }
    return spec;
  });

function expectSameAsTypeBox(spec: unknown): void {
  expect(checkServiceSpec(spec), JSON.stringify(spec)).toBe(Value.Check(ServiceSpec, spec));
  const expected = [...Value.Errors(ServiceSpec, spec)].slice(0, 20);
  const actual = serviceSpecErrors(spec, 20);
  expect(actual.map(({ type, path: at, message, value }) => ({ type, path: at, message, value }))).toEqual(
    expected.map(({ type, path: at, message, value }) => ({ type, path: at, message, value })),
  );
}

describe('service spec check without TypeBox', () => {
  it(`${GENERATED_FILE} is generated from today's ServiceSpec (else: npm run generate:spec-check)`, () => {
    expect(fs.readFileSync(path.join(repoRoot, GENERATED_FILE), 'utf8')).toBe(generateSpecCheck());
  });

  it('accepts the full spec and a minimal one', () => {
    expect(checkServiceSpec(FULL_SPEC)).toBe(true);
    expect(checkServiceSpec({ command: ['true'] })).toBe(true);
    expect(serviceSpecProblems(FULL_SPEC)).toEqual([]);
  });

  it('decides at every limit of every field as TypeBox does, with the same errors', () => {
    const cases = edgeCases();
    expect(cases.length).toBeGreaterThan(200);
    let refused = 0;
    for (const [[first, second], value] of cases) {
      const spec: Record<string, unknown> = structuredClone(FULL_SPEC);
      if (second === undefined) spec[first!] = value;
      else spec[first!] = { ...(spec[first!] as object), [second]: value };
      if (!Value.Check(ServiceSpec, spec)) refused++;
      expectSameAsTypeBox(spec);
    }
    // The cases do reach both sides of the limits.
    expect(refused).toBeGreaterThan(cases.length / 4);
    expect(refused).toBeLessThan(cases.length);
  });

  it('accepts and refuses exactly what TypeBox accepts and refuses, with the same errors', () => {
    fc.assert(
      fc.property(fc.oneof(brokenSpec, anyValue), (spec) => {
        expectSameAsTypeBox(spec);
      }),
      { numRuns: 2000 },
    );
  });
});
