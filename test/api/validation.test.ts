// The bad-input catalogue: each malformed request gets its precise 4xx and code, and
// nothing happens: no service is created, no child process appears, the running process
// is not signalled (same instance, still alive).
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/server/app.js';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { childPids, createApi, expectProblem, sleepSpec, type ApiFixture } from './support.js';

const unsupported = pidfdUnsupportedReason();

interface Case {
  name: string;
  url?: string;
  method?: 'POST' | 'GET' | 'DELETE';
  /** An object is sent as JSON; a string as is. */
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
}

const launch = (body: unknown, extra: Partial<Case> = {}) => ({ body, ...extra });
const bad = 'PIDVISOR_ERR_VALIDATION';

const LAUNCH_CASES: Case[] = [
  { name: 'unknown field', ...launch({ command: ['true'], bogus: 1 }), status: 400, code: bad },
  { name: 'no command', ...launch({}), status: 400, code: bad },
  { name: 'empty command', ...launch({ command: [] }), status: 400, code: bad },
  { name: 'command as a string', ...launch({ command: 'true' }), status: 400, code: bad },
  { name: 'number in argv (not coerced)', ...launch({ command: ['sleep', 1] }), status: 400, code: bad },
  { name: 'NUL in argv', ...launch({ command: ['true', 'a\u0000b'] }), status: 400, code: bad },
  { name: 'NUL in argv[0]', ...launch({ command: ['tr\u0000ue'] }), status: 400, code: bad },
  { name: 'NUL in an env value', ...launch({ command: ['true'], env: { A: 'x\u0000y' } }), status: 400, code: bad },
  { name: 'env name with =', ...launch({ command: ['true'], env: { 'A=B': 'x' } }), status: 400, code: bad },
  { name: 'empty env name', ...launch({ command: ['true'], env: { '': 'x' } }), status: 400, code: bad },
  { name: 'env value not a string', ...launch({ command: ['true'], env: { A: 1 } }), status: 400, code: bad },
  { name: 'umask as a string', ...launch({ command: ['true'], umask: '022' }), status: 400, code: bad },
  { name: 'umask too large', ...launch({ command: ['true'], umask: 0o1000 }), status: 400, code: bad },
  { name: 'timeout as a string', ...launch({ command: ['true'], stopTimeoutMs: '100' }), status: 400, code: bad },
  { name: 'negative timeout', ...launch({ command: ['true'], stopTimeoutMs: -1 }), status: 400, code: bad },
  { name: 'fractional uid', ...launch({ command: ['true'], user: 1.5 }), status: 400, code: bad },
  { name: 'negative uid', ...launch({ command: ['true'], user: -1 }), status: 400, code: bad },
  { name: 'unknown rlimit', ...launch({ command: ['true'], rlimits: { bogus: 1 } }), status: 400, code: bad },
  { name: 'bad name', ...launch({ command: ['true'], name: 'bad name!' }), status: 400, code: bad },
  { name: 'unknown restart policy', ...launch({ command: ['true'], restart: { policy: 'sometimes' } }), status: 400, code: bad },
  { name: 'unknown restart field', ...launch({ command: ['true'], restart: { policy: 'no', extra: 1 } }), status: 400, code: bad },
  { name: 'label key too long', ...launch({ command: ['true'], labels: { ['k'.repeat(64)]: 'v' } }), status: 400, code: bad },
  { name: 'unknown kill mode', ...launch({ command: ['true'], killMode: 'tree' }), status: 400, code: bad },
  { name: 'empty cwd', ...launch({ command: ['true'], cwd: '' }), status: 400, code: bad },
  { name: 'argv too long', ...launch({ command: Array.from({ length: 4097 }, () => 'x') }), status: 400, code: bad },
  { name: 'argument too long', ...launch({ command: ['true', 'x'.repeat(131_073)] }), status: 400, code: bad },
  { name: 'body is an array', ...launch([{ command: ['true'] }]), status: 400, code: bad },
  { name: 'body is null', ...launch('null'), status: 400, code: bad },
  { name: 'body is a string', ...launch('"true"'), status: 400, code: bad },
  { name: 'unknown stop signal', ...launch({ command: ['true'], stopSignal: 'SIGFOO' }), status: 400, code: bad },
  { name: 'max delay below initial', ...launch({ command: ['true'], restart: { initialDelayMs: 500, maxDelayMs: 100 } }), status: 400, code: bad },
  { name: 'number too large for JSON', ...launch('{"command":["true"],"umask":1e400}'), status: 400, code: bad },
  { name: 'deeply nested value', ...launch(`{"command":["true"],"labels":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), status: 400, code: bad },
  { name: 'bad Idempotency-Key', ...launch({ command: ['true'] }, { headers: { 'idempotency-key': 'has space' } }), status: 400, code: bad },
  { name: 'Idempotency-Key too long', ...launch({ command: ['true'] }, { headers: { 'idempotency-key': 'k'.repeat(256) } }), status: 400, code: bad },
  { name: '__proto__ key', ...launch('{"command":["true"],"__proto__":{"x":1}}'), status: 400, code: 'PIDVISOR_ERR_PROTO_POISONING' },
  { name: 'nested __proto__ key', ...launch('{"command":["true"],"env":{"__proto__":{"A":"b"}}}'), status: 400, code: 'PIDVISOR_ERR_PROTO_POISONING' },
  { name: 'constructor.prototype', ...launch('{"command":["true"],"constructor":{"prototype":{"x":1}}}'), status: 400, code: 'PIDVISOR_ERR_PROTO_POISONING' },
  { name: 'truncated JSON', ...launch('{"command":["true"'), status: 400, code: 'PIDVISOR_ERR_INVALID_JSON' },
  { name: 'empty JSON body', ...launch(''), status: 400, code: 'PIDVISOR_ERR_INVALID_JSON' },
  { name: 'JSON with a BOM', ...launch('\ufeff{"command":["true"]}'), status: 400, code: 'PIDVISOR_ERR_INVALID_JSON' },
  { name: 'empty argv[0]', ...launch({ command: [''] }), status: 400, code: bad },
  { name: 'rlimit of 2^53 (not exact as a JSON number)', ...launch({ command: ['true'], rlimits: { nofile: 2 ** 53 } }), status: 400, code: bad },
  { name: 'rlimit soft of 2^64', ...launch({ command: ['true'], rlimits: { core: { soft: 2 ** 64, hard: 'unlimited' } } }), status: 400, code: bad },
  { name: 'stop signal 0', ...launch({ command: ['true'], stopSignal: 0 }), status: 400, code: bad },
  { name: 'lone surrogate in a value', ...launch('{"command":["true"],"labels":{"a":"x\\ud800y"}}'), status: 400, code: 'PIDVISOR_ERR_INVALID_JSON' },
  { name: 'lone low surrogate in a key', ...launch('{"command":["true"],"env":{"A\\udc00":"x"}}'), status: 400, code: 'PIDVISOR_ERR_INVALID_JSON' },
  { name: 'invalid UTF-8 bytes', ...launch(Buffer.from('{"command":["true"],"labels":{"a":"\xff\xfe"}}', 'latin1')), status: 400, code: 'PIDVISOR_ERR_INVALID_JSON' },
  { name: 'overlong UTF-8 encoding', ...launch(Buffer.from('{"command":["true"],"labels":{"a":"\xc0\xaf"}}', 'latin1')), status: 400, code: 'PIDVISOR_ERR_INVALID_JSON' },
  {
    name: 'charset=latin1',
    ...launch({ command: ['true'] }, { headers: { 'content-type': 'application/json; charset=latin1' } }),
    status: 415,
    code: 'PIDVISOR_ERR_UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'text/plain body',
    ...launch('{"command":["true"]}', { headers: { 'content-type': 'text/plain' } }),
    status: 415,
    code: 'PIDVISOR_ERR_UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'form body',
    ...launch('command=true', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    status: 415,
    code: 'PIDVISOR_ERR_UNSUPPORTED_MEDIA_TYPE',
  },
  { name: 'body without Content-Type', ...launch('{"command":["true"]}', { headers: { 'content-type': '' } }), status: 415, code: 'PIDVISOR_ERR_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'body over 1 MiB', ...launch({ command: ['true', 'x'.repeat(100_000)], env: bigEnv() }), status: 413, code: 'PIDVISOR_ERR_PAYLOAD_TOO_LARGE' },
  { name: 'foreign Origin', ...launch({ command: ['true'] }, { headers: { origin: 'http://evil.example' } }), status: 403, code: 'PIDVISOR_ERR_CROSS_ORIGIN' },
];

const SIGNAL_CASES: Case[] = [
  { name: 'no signal', body: {}, status: 400, code: bad },
  { name: 'unknown signal name', body: { signal: 'FOO' }, status: 400, code: bad },
  { name: 'lower-case name', body: { signal: 'sigterm' }, status: 400, code: bad },
  { name: 'number as a string', body: { signal: '9' }, status: 400, code: bad },
  { name: 'signal 0', body: { signal: 0 }, status: 400, code: bad },
  { name: 'signal 65', body: { signal: 65 }, status: 400, code: bad },
  { name: 'fractional signal', body: { signal: 9.5 }, status: 400, code: bad },
  { name: 'unknown target', body: { signal: 'KILL', target: 'cgroup' }, status: 400, code: bad },
  { name: 'unknown field', body: { signal: 'KILL', force: true }, status: 400, code: bad },
  { name: 'empty instance', body: { signal: 'KILL', instance: '' }, status: 400, code: bad },
  { name: 'instance as a number', body: { signal: 'KILL', instance: 5 }, status: 400, code: bad },
  { name: 'stale instance', body: { signal: 'KILL', instance: '1234:5678' }, status: 409, code: 'PIDVISOR_ERR_INSTANCE_MISMATCH' },
  { name: 'NUL in the id', url: '/v1/processes/vic%00tim/signal', body: { signal: 'KILL' }, status: 400, code: bad },
  { name: 'unknown process', url: '/v1/processes/nobody/signal', body: { signal: 'KILL' }, status: 404, code: 'PIDVISOR_ERR_NOT_FOUND' },
  { name: '__proto__ in a signal body', body: '{"signal":"KILL","__proto__":{"instance":"x"}}', status: 400, code: 'PIDVISOR_ERR_PROTO_POISONING' },
  { name: 'signal body as text', body: 'KILL', headers: { 'content-type': 'text/plain' }, status: 415, code: 'PIDVISOR_ERR_UNSUPPORTED_MEDIA_TYPE' },
];

const URL_CASES: Case[] = [
  { name: 'bad percent-encoding', method: 'GET', url: '/v1/processes/%zz', status: 400, code: 'PIDVISOR_ERR_BAD_REQUEST' },
  { name: 'truncated UTF-8 escape', method: 'POST', url: '/v1/processes/%E0%A4%A/stop', status: 400, code: 'PIDVISOR_ERR_BAD_REQUEST' },
  { name: 'over-long id', method: 'POST', url: `/v1/processes/${'a'.repeat(200)}/restart`, status: 400, code: bad },
  { name: 'id not a name', method: 'DELETE', url: '/v1/processes/.hidden', status: 400, code: bad },
  { name: 'unknown query parameter', method: 'POST', url: '/v1/processes?start=false', body: { command: ['true'] }, status: 400, code: bad },
  { name: 'query on a route without one', method: 'GET', url: '/healthz?verbose=1', status: 400, code: bad },
  { name: 'repeated query parameter', method: 'DELETE', url: '/v1/processes/victim?timeoutMs=1&timeoutMs=2', status: 400, code: bad },
  { name: 'unknown route', method: 'POST', url: '/v1/process', body: { command: ['true'] }, status: 404, code: 'PIDVISOR_ERR_ROUTE_NOT_FOUND' },
  { name: 'unknown method', method: 'PATCH' as 'POST', url: '/v1/processes/victim', body: { command: ['true'] }, status: 404, code: 'PIDVISOR_ERR_ROUTE_NOT_FOUND' },
  { name: 'body to start', method: 'POST', url: '/v1/processes/victim/start', body: { force: true }, status: 400, code: bad },
  { name: 'Content-Length larger than the body', method: 'POST', url: '/v1/processes', body: '{}', headers: { 'content-length': '10' }, status: 400, code: 'PIDVISOR_ERR_BAD_REQUEST' },
];

function bigEnv(): Record<string, string> {
  return Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`V${i}`, 'y'.repeat(100_000)]));
}

let t: ApiFixture;
let victim: { id: string; pid: number; instance: string };

beforeAll(async () => {
  t = await createApi();
  const response = await t.app.inject({ method: 'POST', url: '/v1/processes', payload: sleepSpec('victim') });
  victim = JSON.parse(response.body);
});
afterAll(() => t.close());

const snapshot = () => ({ services: t.supervisor.list().map((s) => `${s.id}/${s.instance}`), children: childPids() });

async function send(c: Case, defaultUrl: string) {
  const raw = typeof c.body === 'string' || Buffer.isBuffer(c.body);
  return t.app.inject({
    method: c.method ?? 'POST',
    url: c.url ?? defaultUrl,
    ...(c.body === undefined ? {} : raw ? { payload: c.body as string | Buffer } : { payload: JSON.stringify(c.body) }),
    headers: { ...(c.body === undefined ? {} : { 'content-type': 'application/json' }), ...c.headers },
  });
}

describe.skipIf(unsupported !== null)('bad input is refused and changes nothing', () => {
  it.each(LAUNCH_CASES)('launch: $name -> $status $code', async (c) => {
    const before = snapshot();
    expectProblem(await send(c, '/v1/processes'), c.status, c.code);
    expect(snapshot()).toEqual(before);
  });

  it.each(SIGNAL_CASES)('signal: $name -> $status $code', async (c) => {
    const before = snapshot();
    expectProblem(await send(c, '/v1/processes/victim/signal'), c.status, c.code);
    expect(snapshot()).toEqual(before);
    expect(t.supervisor.get('victim')).toMatchObject({ pid: victim.pid, instance: victim.instance });
    expect(fs.readFileSync(`/proc/${victim.pid}/stat`, 'utf8')).toMatch(/\) S /); // asleep, not stopped or dying
  });

  it.each(URL_CASES)('url: $name -> $status $code', async (c) => {
    const before = snapshot();
    expectProblem(await send(c, '/'), c.status, c.code);
    expect(snapshot()).toEqual(before);
    expect(t.supervisor.get('victim')).toMatchObject({ pid: victim.pid, instance: victim.instance });
  });

  it('a validation problem says where', async () => {
    const problem = expectProblem(await send({ ...LAUNCH_CASES[4]!, name: '' }, '/v1/processes'), 400, bad);
    expect(problem.problems).toEqual([{ in: 'body', path: '/command/1', message: 'must be string' }]);
    const extra = expectProblem(await send(LAUNCH_CASES[0]!, '/v1/processes'), 400, bad);
    expect(extra.problems[0]).toMatchObject({ in: 'body', path: '/', message: expect.stringContaining('bogus') });
    // A union names what it takes, not its first branch ("must be string").
    const signal = expectProblem(await send({ name: '', body: { command: ['true'], stopSignal: 0 }, status: 400, code: bad }, '/v1/processes'), 400, bad);
    expect(signal.problems).toEqual([{ in: 'body', path: '/stopSignal', message: 'must be a signal name such as SIGTERM or TERM, or a signal number from 1 to 64' }]);
    expect(signal.detail).toBe('invalid body: /stopSignal: must be a signal name such as SIGTERM or TERM, or a signal number from 1 to 64');
    const argv0 = expectProblem(await send({ name: '', body: { command: [''] }, status: 400, code: bad }, '/v1/processes'), 400, bad);
    expect(argv0.problems).toEqual([{ path: '/command/0', message: 'must not be empty' }]);
  });

  it('a batch refuses each bad spec as a launch does, with the same problems for its entry', async () => {
    for (const c of LAUNCH_CASES.filter((k) => typeof k.body === 'object' && k.headers === undefined && k.url === undefined && k.code === bad)) {
      const one = expectProblem(await send(c, '/v1/processes'), 400, bad);
      const before = snapshot();
      const batch = expectProblem(await send({ ...c, body: { processes: [{ command: ['true'] }, c.body] } }, '/v1/processes/batch'), 400, bad);
      expect(snapshot(), c.name).toEqual(before);
      if (one.problems.every((p: { in?: string }) => p.in === 'body')) {
        // The request schema's: the same problems under the entry's path.
        const under = (problems: Array<{ path: string }>) => problems.map((p) => ({ ...p, path: `/processes/1${p.path === '/' ? '' : p.path}` }));
        expect(batch.problems, c.name).toEqual(under(one.problems));
      } else {
        // The daemon's check of the spec: the same problems, and the entry's index.
        expect({ problems: batch.problems, index: batch.index }, c.name).toEqual({ problems: one.problems, index: 1 });
      }
    }
  });

  it('compiles the launch body once: both launch routes refer to its validator instead of holding a copy', async () => {
    const app = buildApp(t.supervisor, { rateLimit: false, audit: false });
    const validators = new Map<string, unknown>();
    app.addHook('onRequest', async (request) => {
      validators.set(request.url, request.getValidationFunction('body'));
    });
    try {
      await app.ready();
      for (const url of ['/v1/processes', '/v1/processes/batch']) {
        expectProblem(await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: '{}' }), 400, bad);
      }
    } finally {
      await app.close();
    }
    // The generated code: ~340,000 characters for the launch body, inlined into each route's
    // validator (two copies, ~0.7 MiB resident) before they referred to one.
    const sizes = Object.fromEntries([...validators].map(([url, validate]) => [url, String(validate).length]));
    expect(Object.keys(sizes).sort()).toEqual(['/v1/processes', '/v1/processes/batch']);
    for (const [url, size] of Object.entries(sizes)) expect(size, url).toBeLessThan(20_000);
  });

  it('accepts charset=utf-8 in any spelling, and an empty later argument', async () => {
    for (const contentType of ['application/json; charset=utf-8', 'application/json;charset="UTF-8"', 'application/json; charset=utf8']) {
      const response = await t.app.inject({ method: 'POST', url: '/v1/processes', headers: { 'content-type': contentType }, payload: JSON.stringify({ command: ['true', ''], name: 'charset-ok' }) });
      expect(response.statusCode, contentType).toBe(201);
      await t.supervisor.remove('charset-ok');
    }
  });
});
