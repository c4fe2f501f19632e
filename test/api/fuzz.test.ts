// Property-based fuzzing of the bodies that start or touch processes: launch, batch launch
// and signal. Whatever arrives, the answer is 2xx or 4xx (never 5xx), the app keeps serving,
// an invalid body starts nothing, and a signal request never disturbs a process beyond
// the signal it validly asked for.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { ProcessInfo, Problem, SignalResult } from '../../api/server/schemas.js';
import { ERROR_CODES } from '../../api/server/index.js';
import { childPids, createApi, expectSchema, type ApiFixture } from './support.js';

const unsupported = pidfdUnsupportedReason();

let t: ApiFixture;
let target: { id: string; pid: number; instance: string };

// Every signal the target can take without any effect: all are ignored (and the ignore
// survives exec), except those that cannot be ignored (KILL, STOP) and 32/33, which dash
// will not trap. The fuzzer never sends those to it.
const UNIGNORABLE = new Set([9, 19, 32, 33]);
const IGNORED = Array.from({ length: 64 }, (_, i) => i + 1).filter((n) => !UNIGNORABLE.has(n));
const isDeadly = (signal: unknown): boolean =>
  (typeof signal === 'number' && UNIGNORABLE.has(signal)) || (typeof signal === 'string' && /^(SIG)?(KILL|STOP)$/.test(signal));

beforeAll(async () => {
  t = await createApi({ rateLimit: false });
  const launched = await t.app.inject({
    method: 'POST',
    url: '/v1/processes',
    payload: { name: 'fuzz-target', command: ['sh', '-c', `trap '' ${IGNORED.join(' ')}; exec sleep 100000`], startGraceMs: 0, stopTimeoutMs: 300, restart: { policy: 'no' } },
  });
  target = JSON.parse(launched.body);
  await t.app.inject({ method: 'POST', url: '/v1/processes', payload: { name: 'fuzz-stopped', command: ['true'], autostart: false } });
  // Wait until sh has exec'd sleep with everything ignored.
  const fs = await import('node:fs');
  const { pollUntil } = await import('../helpers/proc.js');
  await pollUntil(() => /^SigIgn:\s*f/m.test(fs.readFileSync(`/proc/${target.pid}/status`, 'utf8')), 5000);
});
afterAll(() => t.close());

const snapshot = () => ({ services: t.supervisor.list().map((s) => `${s.id}/${s.instance}`).sort(), children: childPids() });

function expectAnswer(status: number, body: string): void {
  expect(status >= 200 && status < 300 || (status >= 400 && status < 500), `status ${status}: ${body.slice(0, 300)}`).toBe(true);
  if (status >= 400) {
    const problem = JSON.parse(body);
    expectSchema(Problem, problem);
    expect(ERROR_CODES).toContain(problem.code);
  }
}

// ---- launch bodies ----

const validName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,10}$/);
const anyText = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('', '\u0000', 'a\u0000b', '/', '/nonexistent', 'SIGTERM', '__proto__'));
const junk = fc.oneof(anyText, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 2 }));
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.oneof(arb, junk);

/** Specs near the valid ones: right fields with wrong or odd values, unknown fields. */
const mutatedSpec = fc.record(
  {
    name: maybe(validName),
    command: fc.oneof(fc.constant(['true']), fc.array(anyText, { maxLength: 4 }), fc.array(junk, { maxLength: 3 }), junk),
    env: maybe(fc.dictionary(anyText, fc.oneof(anyText, fc.integer()), { maxKeys: 3 })),
    clearEnv: maybe(fc.boolean()),
    cwd: maybe(fc.constantFrom('/', '/tmp', '/nonexistent')),
    user: maybe(fc.oneof(fc.constantFrom('root', 'nobody', 'no-such-user-x'), fc.integer({ min: -2, max: 70000 }))),
    group: maybe(fc.oneof(fc.constantFrom('root', 'nogroup', 'no-such-group-x'), fc.integer({ min: -2, max: 70000 }))),
    umask: maybe(fc.integer({ min: -1, max: 0o1000 })),
    rlimits: maybe(fc.dictionary(fc.constantFrom('nofile', 'core', 'cpu', 'bogus'), fc.oneof(fc.integer({ min: -1, max: 1 << 20 }), fc.constant('unlimited'), junk), { maxKeys: 2 })),
    stdin: maybe(fc.constantFrom('null', 'inherit')),
    stdout: maybe(fc.constantFrom('capture', 'null')),
    stderr: maybe(fc.constantFrom('capture', 'null')),
    restart: maybe(fc.record({ policy: maybe(fc.constantFrom('no', 'on-failure', 'always')), initialDelayMs: maybe(fc.integer({ min: -1, max: 1000 })) }, { requiredKeys: [] })),
    startGraceMs: maybe(fc.integer({ min: -1, max: 100 })),
    stopSignal: maybe(fc.oneof(fc.constantFrom('TERM', 'SIGINT', 'SIGFOO', 'kill'), fc.integer({ min: -1, max: 70 }))),
    stopTimeoutMs: maybe(fc.integer({ min: -1, max: 5000 })),
    killMode: maybe(fc.constantFrom('process', 'group', 'cgroup', 'tree')),
    labels: maybe(fc.dictionary(anyText, anyText, { maxKeys: 2 })),
    autostart: maybe(fc.boolean()),
    surprise: junk,
  },
  { requiredKeys: [] },
);

/** Valid specs of harmless commands: these do start processes. */
const validSpec = fc.record(
  {
    command: fc.constantFrom(['true'], ['/bin/true'], ['false'], ['sh', '-c', 'exit 3']),
    name: validName,
    env: fc.dictionary(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,8}$/).filter((k) => !['PATH', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'HOME'].includes(k)), fc.string(), { maxKeys: 3 }),
    cwd: fc.constantFrom('/', '/tmp'),
    umask: fc.integer({ min: 0, max: 0o777 }),
    stdout: fc.constantFrom('capture', 'null'),
    stderr: fc.constantFrom('capture', 'null'),
    killMode: fc.constantFrom('process', 'group'),
    labels: fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ maxLength: 20 }), { maxKeys: 2 }),
  },
  { requiredKeys: ['command'] },
);

/** Bytes that are not quite JSON: a valid spec with one character changed, or any text. */
const brokenText = fc.oneof(
  fc.string(),
  fc.tuple(fc.nat(40), fc.string({ minLength: 1, maxLength: 2 })).map(([at, insert]) => {
    const text = JSON.stringify({ command: ['true'], name: 'x' });
    return text.slice(0, at % text.length) + insert + text.slice((at % text.length) + 1);
  }),
);

async function checkLaunch(payload: string): Promise<void> {
  const before = snapshot();
  const response = await t.app.inject({ method: 'POST', url: '/v1/processes', payload, headers: { 'content-type': 'application/json' } });
  expectAnswer(response.statusCode, response.body);
  if (response.statusCode === 201) {
    const info = JSON.parse(response.body);
    expectSchema(ProcessInfo, info);
    await t.supervisor.remove(info.id, 1000);
  } else {
    expect(snapshot()).toEqual(before);
  }
}

describe.skipIf(unsupported !== null)('fuzzing', () => {
  it('launch: any JSON value', async () => {
    await fc.assert(fc.asyncProperty(fc.jsonValue(), (value) => checkLaunch(JSON.stringify(value))), { numRuns: 500 });
  });

  it('launch: specs with odd values and unknown fields', async () => {
    await fc.assert(fc.asyncProperty(mutatedSpec, (spec) => checkLaunch(JSON.stringify(spec))), { numRuns: 1200 });
  });

  it('launch: text that is not JSON', async () => {
    await fc.assert(fc.asyncProperty(brokenText, (text) => checkLaunch(text)), { numRuns: 400 });
  });

  it('launch: valid specs start processes (and are cleaned up)', async () => {
    let created = 0;
    await fc.assert(
      fc.asyncProperty(validSpec, async (spec) => {
        const response = await t.app.inject({ method: 'POST', url: '/v1/processes', payload: spec });
        expectAnswer(response.statusCode, response.body);
        if (response.statusCode === 201) {
          created++;
          await t.supervisor.remove(JSON.parse(response.body).id, 1000);
        }
      }),
      { numRuns: 150 },
    );
    expect(created).toBeGreaterThan(100); // the generator mostly makes launches that work
  });

  it('batch launch: mixes of valid and odd specs start all or nothing', async () => {
    const entry = fc.oneof({ arbitrary: validSpec, weight: 3 }, { arbitrary: mutatedSpec, weight: 1 }, { arbitrary: fc.constant({ command: ['/nonexistent/x'] }), weight: 1 });
    const payload = fc.oneof(
      { arbitrary: fc.record({ processes: fc.array(entry, { maxLength: 4 }) }), weight: 4 },
      { arbitrary: fc.record({ processes: junk, extra: junk }, { requiredKeys: [] }), weight: 1 },
    );
    let started = 0;
    await fc.assert(
      fc.asyncProperty(payload, async (body) => {
        const before = snapshot();
        const response = await t.app.inject({ method: 'POST', url: '/v1/processes/batch', payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
        expectAnswer(response.statusCode, response.body);
        if (response.statusCode === 201) {
          const { processes } = JSON.parse(response.body) as { processes: Array<{ id: string }> };
          expect(processes).toHaveLength((body as { processes: unknown[] }).processes.length);
          started++;
          await Promise.all(processes.map((p) => t.supervisor.remove(p.id, 1000)));
        } else {
          expect(snapshot()).toEqual(before);
        }
      }),
      { numRuns: 200 },
    );
    expect(started).toBeGreaterThan(10);
  });

  it('signal: any body, any target; the target process is never disturbed', async () => {
    const signalValue = fc.oneof(
      fc.constantFrom('TERM', 'SIGTERM', 'HUP', 'SIGUSR1', 'SIGCONT', 'WINCH', 'SIGFOO', 'sigterm', '9', ''),
      fc.integer({ min: -3, max: 70 }),
      fc.double(),
      anyText,
      junk,
    );
    const nearlyValid = fc.record(
      {
        signal: fc.oneof(fc.constantFrom(...IGNORED), fc.constantFrom('TERM', 'SIGHUP', 'USR2', 'SIGCONT', 'SIGWINCH', 'SIGFOO')),
        instance: fc.oneof(fc.constant(target.instance), fc.constant('123:456')),
        target: fc.constantFrom('process', 'group'),
      },
      { requiredKeys: ['signal'] },
    );
    const body = fc.oneof(
      nearlyValid,
      fc.jsonValue(),
      fc.record(
        {
          signal: signalValue,
          instance: fc.oneof(fc.constant(target.instance), anyText, junk),
          target: fc.oneof(fc.constantFrom('process', 'group', 'cgroup'), junk),
          extra: junk,
        },
        { requiredKeys: [] },
      ),
    );
    const ref = fc.oneof(
      { arbitrary: fc.constantFrom('fuzz-target', target.id), weight: 4 },
      { arbitrary: fc.constantFrom('fuzz-stopped', 'nobody'), weight: 1 },
      { arbitrary: fc.string().map(encodeURIComponent), weight: 1 },
    );
    let delivered = 0;
    await fc.assert(
      fc.asyncProperty(ref, body, async (id, payload) => {
        if (payload !== null && typeof payload === 'object' && isDeadly((payload as { signal?: unknown }).signal)) return;
        const before = snapshot();
        const response = await t.app.inject({ method: 'POST', url: `/v1/processes/${id}/signal`, payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
        expectAnswer(response.statusCode, response.body);
        if (response.statusCode === 200) {
          expectSchema(SignalResult, JSON.parse(response.body));
          delivered++;
        }
        expect(snapshot()).toEqual(before);
        expect(t.supervisor.get('fuzz-target')).toMatchObject({ state: 'running', pid: target.pid, instance: target.instance });
      }),
      { numRuns: 1000 },
    );
    expect(delivered).toBeGreaterThan(50);
    expect(t.supervisor.get('fuzz-stopped').state).toBe('stopped');
  });

  it('keeps serving', async () => {
    expect((await t.app.inject('/healthz')).statusCode).toBe(200);
    expect(JSON.parse((await t.app.inject('/v1/processes')).body).processes.map((p: { name: string }) => p.name).sort()).toEqual(['fuzz-stopped', 'fuzz-target']);
  });
});
