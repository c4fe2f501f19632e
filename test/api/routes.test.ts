// Every route on a real Supervisor with real processes, through inject(): each success,
// and each error code a route can answer with.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { buildApp, type PidvisorApp } from '../../api/server/index.js';
import { ProcessInfo, ProcessList, SignalResult, SystemInfo, WaitResult, ExitRecord } from '../../api/server/schemas.js';
import { ignoresSignal, pollUntil } from '../helpers/proc.js';
import { waitForState } from '../helpers/supervisor.js';
import { createApi, delegate, expectProblem, expectSchema, json, sleepSpec, type ApiFixture } from './support.js';

const unsupported = pidfdUnsupportedReason();
let t: ApiFixture;

beforeEach(async () => {
  t = await createApi();
});
afterEach(() => t.close());

const alive = (pid: number): boolean => fs.existsSync(`/proc/${pid}`);
const post = (url: string, payload?: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url, ...(payload === undefined ? {} : { payload: payload as object }), headers });
const launch = async (spec: Record<string, unknown>) => {
  const response = await post('/v1/processes', spec);
  expect(response.statusCode, response.body).toBe(201);
  return json(response);
};

describe.skipIf(unsupported !== null)('HTTP routes', () => {
  it('GET /v1/system and /healthz', async () => {
    const system = await t.app.inject('/v1/system');
    expect(system.statusCode).toBe(200);
    expectSchema(SystemInfo, json(system));
    expect(json(system).pid).toBe(process.pid);
    const health = await t.app.inject('/healthz');
    expect(json(health)).toEqual({ status: 'ok' });
  });

  it('POST /v1/processes launches: 201, Location, the process object', async () => {
    const response = await post('/v1/processes', sleepSpec('web', { labels: { tier: 'front' } }));
    expect(response.statusCode).toBe(201);
    const info = json(response);
    expectSchema(ProcessInfo, info);
    expect(response.headers.location).toBe(`/v1/processes/${info.id}`);
    expect(info).toMatchObject({ name: 'web', command: ['sleep', '1000'], labels: { tier: 'front' }, origin: 'api' });
    expect(['starting', 'running']).toContain(info.state);
    expect(alive(info.pid)).toBe(true);
  });

  it('POST /v1/processes: 409 NAME_TAKEN, 422 SPAWN_FAILED with errno and stage, UNKNOWN_USER, UNKNOWN_GROUP', async () => {
    await launch(sleepSpec('web'));
    expectProblem(await post('/v1/processes', sleepSpec('web')), 409, 'PIDVISOR_ERR_NAME_TAKEN');
    const missing = expectProblem(await post('/v1/processes', { command: ['/nonexistent/pidvisor-test'] }), 422, 'PIDVISOR_ERR_SPAWN_FAILED');
    expect(missing).toMatchObject({ errno: 'ENOENT', stage: 'execve' });
    const notFound = expectProblem(await post('/v1/processes', { command: ['pidvisor-no-such-command'] }), 422, 'PIDVISOR_ERR_SPAWN_FAILED');
    expect(notFound.errno).toBe('ENOENT');
    const badCwd = expectProblem(await post('/v1/processes', { command: ['true'], cwd: '/nonexistent-dir' }), 422, 'PIDVISOR_ERR_SPAWN_FAILED');
    expect(badCwd).toMatchObject({ errno: 'ENOENT', stage: 'chdir' });
    expectProblem(await post('/v1/processes', { command: ['true'], user: 'pidvisor-no-such-user' }), 422, 'PIDVISOR_ERR_UNKNOWN_USER');
    expectProblem(await post('/v1/processes', { command: ['true'], group: 'pidvisor-no-such-group' }), 422, 'PIDVISOR_ERR_UNKNOWN_GROUP');
    // A failed launch leaves nothing behind.
    expect(t.supervisor.list().map((p) => p.name)).toEqual(['web']);
  });

  it('POST /v1/processes: 422 CGROUP_UNAVAILABLE where there is no cgroup v2', async () => {
    const plain = await createApi({}, { cgroupMount: null });
    try {
      const response = await plain.app.inject({ method: 'POST', url: '/v1/processes', payload: { command: ['true'], killMode: 'cgroup' } });
      expectProblem(response, 422, 'PIDVISOR_ERR_CGROUP_UNAVAILABLE');
      expect(plain.supervisor.list()).toEqual([]);
    } finally {
      await plain.close();
    }
  });

  it('POST /v1/processes: 503 TOO_MANY_LAUNCHES while the launch slots are taken', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = delegate(t.supervisor, { launch: async (spec, options) => (await gate, t.supervisor.launch(spec, options)) });
    const app = buildApp(slow, { maxConcurrentLaunches: 1, rateLimit: false });
    try {
      const first = app.inject({ method: 'POST', url: '/v1/processes', payload: sleepSpec('one') });
      await pollUntil(() => app.pidvisor.launches.inUse === 1);
      const second = await app.inject({ method: 'POST', url: '/v1/processes', payload: sleepSpec('two') });
      expectProblem(second, 503, 'PIDVISOR_ERR_TOO_MANY_LAUNCHES');
      expect(second.headers['retry-after']).toBe('1');
      release();
      expect((await first).statusCode).toBe(201);
      expect(t.supervisor.list().map((p) => p.name)).toEqual(['one']);
    } finally {
      await app.close();
    }
  });

  it('Idempotency-Key: a retry returns the first result; another body is 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const headers = { 'idempotency-key': 'launch-7f3a' };
    const first = await post('/v1/processes', sleepSpec('once'), headers);
    expect(first.statusCode).toBe(201);
    // Same body with its keys in another order: the same launch.
    const retry = await post('/v1/processes', { stopTimeoutMs: 2000, command: ['sleep', '1000'], name: 'once' }, headers);
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(json(retry)).toEqual(json(first));
    expect(t.supervisor.list()).toHaveLength(1);
    const reused = expectProblem(await post('/v1/processes', sleepSpec('other'), headers), 422, 'PIDVISOR_ERR_IDEMPOTENCY_KEY_REUSED');
    expect(reused.idempotencyKey).toBe('launch-7f3a');
    // Concurrent requests with one key: one launch, one answer.
    const both = await Promise.all([1, 2].map(() => post('/v1/processes', sleepSpec('twice'), { 'idempotency-key': 'k2' })));
    expect(both.map((r) => r.statusCode)).toEqual([201, 201]);
    expect(json(both[0]!).id).toBe(json(both[1]!).id);
    expect(t.supervisor.list()).toHaveLength(2);
    // A failed launch is an outcome too: the retry gets the same 422 without spawning again.
    const failed = await post('/v1/processes', { command: ['/nonexistent/x'] }, { 'idempotency-key': 'k3' });
    const failedAgain = await post('/v1/processes', { command: ['/nonexistent/x'] }, { 'idempotency-key': 'k3' });
    expect(failedAgain.statusCode).toBe(422);
    expect(json(failedAgain)).toEqual(json(failed));
    expect(t.events.filter((e) => e.type === 'spawn-failed')).toHaveLength(1);
  });

  it('GET /v1/processes and /v1/processes/{id} by id and by name; 404 NOT_FOUND', async () => {
    const info = await launch(sleepSpec('web'));
    const list = await t.app.inject('/v1/processes');
    expectSchema(ProcessList, json(list));
    expect(json(list).processes.map((p: { id: string }) => p.id)).toEqual([info.id]);
    for (const ref of [info.id, 'web']) {
      const one = await t.app.inject(`/v1/processes/${ref}`);
      expect(one.statusCode).toBe(200);
      expect(json(one).id).toBe(info.id);
    }
    expectProblem(await t.app.inject('/v1/processes/nope'), 404, 'PIDVISOR_ERR_NOT_FOUND');
    expectProblem(await t.app.inject('/v1/processes/-bad'), 400, 'PIDVISOR_ERR_VALIDATION');
  });

  it('POST /signal: by name and number, to the group; 409 INSTANCE_MISMATCH and NOT_RUNNING signal nothing', async () => {
    const info = await launch(sleepSpec('web', { restart: { policy: 'no' } }));
    const mismatch = expectProblem(await post(`/v1/processes/web/signal`, { signal: 'SIGKILL', instance: 'not-the-instance' }), 409, 'PIDVISOR_ERR_INSTANCE_MISMATCH');
    expect(mismatch.current).toBe(info.instance);
    expect(alive(info.pid)).toBe(true);
    expect(t.supervisor.get('web').instance).toBe(info.instance);

    const zero = await post(`/v1/processes/web/signal`, { signal: 'SIGCONT', instance: info.instance, target: 'group' });
    expect(zero.statusCode).toBe(200);
    expectSchema(SignalResult, json(zero));
    expect(json(zero)).toEqual({ pid: info.pid, instance: info.instance, signal: 18 });

    expectProblem(await post(`/v1/processes/web/signal`, { signal: 'SIGNOPE' }), 400, 'PIDVISOR_ERR_VALIDATION');
    const term = await post(`/v1/processes/${info.id}/signal`, { signal: 15 });
    expect(json(term)).toMatchObject({ pid: info.pid, signal: 15 });
    await waitForState(t.supervisor, 'web', 'exited');
    expect(t.supervisor.get('web').exit).toMatchObject({ signal: 'SIGTERM', reason: 'exited' });
    expectProblem(await post(`/v1/processes/web/signal`, { signal: 'TERM' }), 409, 'PIDVISOR_ERR_NOT_RUNNING');
    expectProblem(await post(`/v1/processes/gone/signal`, { signal: 'TERM' }), 404, 'PIDVISOR_ERR_NOT_FOUND');
  });

  it('POST /stop, /start, /restart and their 409s', async () => {
    const info = await launch(sleepSpec('web'));
    expectProblem(await post('/v1/processes/web/start'), 409, 'PIDVISOR_ERR_ALREADY_RUNNING');
    const stopped = await post('/v1/processes/web/stop', { timeoutMs: 2000 });
    expect(stopped.statusCode).toBe(200);
    expectSchema(ProcessInfo, json(stopped));
    expect(json(stopped)).toMatchObject({ state: 'stopped', pid: null });
    expect(json(stopped).exit).toMatchObject({ reason: 'stopped', signal: 'SIGTERM', instance: info.instance });
    expect(alive(info.pid)).toBe(false);

    const started = await post('/v1/processes/web/start', {});
    expect(started.statusCode).toBe(200);
    expect(['starting', 'running']).toContain(json(started).state);
    const restarted = await post('/v1/processes/web/restart');
    expect(restarted.statusCode).toBe(200);
    expect(json(restarted).instance).not.toBe(json(started).instance);
    expect(json(restarted).restarts).toBe(2);
    // Bodies that are not empty objects are refused, not ignored.
    expectProblem(await post('/v1/processes/web/start', { now: true }), 400, 'PIDVISOR_ERR_VALIDATION');
    expectProblem(await post('/v1/processes/web/stop', { timeoutMs: '5' }), 400, 'PIDVISOR_ERR_VALIDATION');
    for (const action of ['stop', 'start', 'restart']) expectProblem(await post(`/v1/processes/nope/${action}`), 404, 'PIDVISOR_ERR_NOT_FOUND');
  });

  it('POST /start: 409 STOPPING during a stop, 422 SPAWN_FAILED when the command has gone', async () => {
    // TERM ignored (and the ignore survives exec): the stop has to wait for its timeout.
    const stubborn = await launch({ name: 'stubborn', command: ['sh', '-c', 'trap "" TERM; exec sleep 1000'], startGraceMs: 0 });
    // Until the shell has run `trap`, a TERM would end it at once and there would be no stop to race.
    await pollUntil(() => ignoresSignal(stubborn.pid, 15), 5000);
    const stopping = post('/v1/processes/stubborn/stop', { timeoutMs: 400 });
    await waitForState(t.supervisor, 'stubborn', 'stopping');
    expectProblem(await post('/v1/processes/stubborn/start'), 409, 'PIDVISOR_ERR_STOPPING');
    expect(json(await stopping).exit.reason).toBe('killed');

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-api-'));
    const script = path.join(dir, 'run.sh');
    fs.writeFileSync(script, '#!/bin/sh\nexec sleep 1000\n', { mode: 0o755 });
    try {
      await launch({ name: 'script', command: [script] });
      expect((await post('/v1/processes/script/stop')).statusCode).toBe(200);
      fs.rmSync(script);
      const failed = expectProblem(await post('/v1/processes/script/start'), 422, 'PIDVISOR_ERR_SPAWN_FAILED');
      expect(failed).toMatchObject({ errno: 'ENOENT', stage: 'execve' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('DELETE /v1/processes/{id} stops and forgets; 404 afterwards', async () => {
    const info = await launch(sleepSpec('web'));
    const removed = await t.app.inject({ method: 'DELETE', url: '/v1/processes/web?timeoutMs=2000' });
    expect(removed.statusCode).toBe(200);
    expect(json(removed)).toMatchObject({ id: info.id, state: 'removed' });
    expect(alive(info.pid)).toBe(false);
    expectProblem(await t.app.inject('/v1/processes/web'), 404, 'PIDVISOR_ERR_NOT_FOUND');
    expectProblem(await t.app.inject({ method: 'DELETE', url: '/v1/processes/web' }), 404, 'PIDVISOR_ERR_NOT_FOUND');
    expectProblem(await t.app.inject({ method: 'DELETE', url: '/v1/processes/x?timeoutMs=9999999' }), 400, 'PIDVISOR_ERR_VALIDATION');
  });

  it('GET /wait: the exit of the current instance; timedOut after timeoutMs; the last exit when nothing runs', async () => {
    await launch({ name: 'short', command: ['sh', '-c', 'sleep 0.2; exit 7'], restart: { policy: 'no' } });
    const waited = await t.app.inject('/v1/processes/short/wait');
    expect(waited.statusCode).toBe(200);
    expectSchema(WaitResult, json(waited));
    expect(json(waited)).toMatchObject({ timedOut: false, exit: { code: 7, reason: 'exited' } });
    const again = await t.app.inject('/v1/processes/short/wait?timeoutMs=5000');
    expect(json(again).exit.code).toBe(7);

    await launch(sleepSpec('long'));
    const started = Date.now();
    const timedOut = await t.app.inject('/v1/processes/long/wait?timeoutMs=100');
    expect(json(timedOut)).toEqual({ exit: null, timedOut: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    // Many pollers of one instance share one wait; all see the exit.
    const polls = Array.from({ length: 5 }, () => t.app.inject('/v1/processes/long/wait'));
    await post('/v1/processes/long/stop');
    for (const poll of await Promise.all(polls)) expect(json(poll).exit.reason).toBe('stopped');

    expectProblem(await t.app.inject('/v1/processes/nope/wait'), 404, 'PIDVISOR_ERR_NOT_FOUND');
    expectProblem(await t.app.inject('/v1/processes/long/wait?timeoutMs=99999999'), 400, 'PIDVISOR_ERR_VALIDATION');
    expectProblem(await t.app.inject('/v1/processes/long/wait?timeoutMs=-1'), 400, 'PIDVISOR_ERR_VALIDATION');
  });

  it('GET /wait answers 503 SHUTTING_DOWN when the app closes under it', async () => {
    await launch(sleepSpec('long'));
    let waiting = false;
    const watched = delegate(t.supervisor, { wait: (ref) => ((waiting = true), t.supervisor.wait(ref)) });
    const app = buildApp(watched, { rateLimit: false });
    const poll = app.inject('/v1/processes/long/wait');
    await pollUntil(() => waiting);
    await app.close();
    expectProblem(await poll, 503, 'PIDVISOR_ERR_SHUTTING_DOWN');
  });

  it('GET /logs: ndjson with base64 data, text, stream, tail and after filters; 409 LOGS_NOT_CAPTURED', async () => {
    await launch({ name: 'talk', command: ['sh', '-c', "printf 'one\\ntwo\\n'; printf '\\000\\377\\n'; printf 'oops\\n' >&2; printf 'part'; exec sleep 1000"] });
    const logs = t.supervisor.service('talk').logs!;
    await pollUntil(() => logs.tail().length >= 5, 5000);
    const all = await t.app.inject('/v1/processes/talk/logs');
    expect(all.statusCode).toBe(200);
    expect(all.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = all.body.trim().split('\n').map((line) => JSON.parse(line));
    const decoded = lines.map((l: { data: string }) => Buffer.from(l.data, 'base64'));
    const stdout = lines.filter((l: { stream: string }) => l.stream === 'stdout');
    expect(stdout.map((l: { data: string }) => Buffer.from(l.data, 'base64').toString('latin1'))).toEqual(['one', 'two', '\u0000\u00ff', 'part']);
    expect(decoded.some((b: Buffer) => b.equals(Buffer.from([0, 0xff])))).toBe(true);
    expect(lines.at(-1)).toMatchObject({ partial: true });
    expect(lines.map((l: { seq: number }) => l.seq)).toEqual([...lines.map((l: { seq: number }) => l.seq)].sort((a, b) => a - b));

    const stderr = await t.app.inject('/v1/processes/talk/logs?stream=stderr&format=text');
    expect(stderr.headers['content-type']).toBe('application/octet-stream');
    expect(stderr.body).toBe('oops\n');
    const text = await t.app.inject('/v1/processes/talk/logs?stream=stdout&format=text');
    expect(text.rawPayload.equals(Buffer.from('one\ntwo\n\u0000\u00ff\npart', 'latin1'))).toBe(true);
    const tail = await t.app.inject('/v1/processes/talk/logs?stream=stdout&tail=1&format=text');
    expect(tail.body).toBe('part');
    const after = await t.app.inject(`/v1/processes/talk/logs?after=${lines.at(-2).seq}`);
    expect(after.body.trim().split('\n')).toHaveLength(1);

    await launch({ name: 'quiet', command: ['true'], stdout: 'null', stderr: 'null' });
    expectProblem(await t.app.inject('/v1/processes/quiet/logs'), 409, 'PIDVISOR_ERR_LOGS_NOT_CAPTURED');
    expectProblem(await t.app.inject('/v1/processes/nope/logs'), 404, 'PIDVISOR_ERR_NOT_FOUND');
    for (const query of ['stream=both', 'tail=-1', 'follow=yes', 'format=json', 'tail=1&tail=2', 'x=1']) {
      expectProblem(await t.app.inject(`/v1/processes/talk/logs?${query}`), 400, 'PIDVISOR_ERR_VALIDATION');
    }
  });

  it('GET /logs?follow=true streams new records until the process is removed', async () => {
    await launch({ name: 'later', command: ['sh', '-c', 'echo a; sleep 0.3; echo b; exec sleep 1000'] });
    const following = t.app.inject('/v1/processes/later/logs?follow=true&format=text');
    await pollUntil(() => t.app.pidvisor.streams.size === 1);
    const later = t.supervisor.service('later').logs!;
    await pollUntil(() => later.tail().length >= 2, 5000);
    await t.app.inject({ method: 'DELETE', url: '/v1/processes/later' });
    const response = await following;
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('a\nb\n');
  });

  it('GET /metrics: processes by state, restarts, spawn failures, exits by reason, requests by route and status', async () => {
    await launch(sleepSpec('web', { startGraceMs: 0 }));
    await post('/v1/processes', { command: ['/nonexistent/x'] });
    await launch({ name: 'done', command: ['true'], restart: { policy: 'no' } });
    await waitForState(t.supervisor, 'done', 'exited');
    await waitForState(t.supervisor, 'web', 'running');
    const response = await t.app.inject('/metrics');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = response.body;
    expect(text).toContain('pidvisor_processes{state="running"} 1');
    expect(text).toContain('pidvisor_processes{state="exited"} 1');
    expect(text).toMatch(/pidvisor_process_restarts_total\{id="[0-9a-f]+",name="web"\} 0/);
    // At least the launch's: a forgotten service still retries (see the report), so not exactly 1.
    expect(text).toMatch(/pidvisor_spawn_failures_total [1-9]/);
    expect(text).toContain('pidvisor_exits_total{reason="exited"} 1');
    expect(text).toContain('pidvisor_api_requests_total{method="POST",route="/v1/processes",status="201"} 2');
    expect(text).toContain('pidvisor_api_requests_total{method="POST",route="/v1/processes",status="422"} 1');
    for (const line of text.trim().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?[0-9.e+]+)$/);
  });

  it('GET /openapi.json describes every route', async () => {
    const response = await t.app.inject('/openapi.json');
    expect(response.statusCode).toBe(200);
    const doc = json(response);
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/healthz',
      '/metrics',
      '/openapi.json',
      '/ui',
      '/ui/',
      '/ui/session',
      '/ui/{file}',
      '/v1/config/reload',
      '/v1/events',
      '/v1/graph',
      '/v1/processes',
      '/v1/processes/batch',
      '/v1/processes/{id}',
      '/v1/processes/{id}/inspect',
      '/v1/processes/{id}/logs',
      '/v1/processes/{id}/restart',
      '/v1/processes/{id}/signal',
      '/v1/processes/{id}/start',
      '/v1/processes/{id}/stop',
      '/v1/processes/{id}/wait',
      '/v1/system',
      '/v1/system/reexec',
      '/v1/ui/tickets',
    ]);
    // Documented with its refusals; an app without a daemon to hand over (as here) answers NO_KEEPER.
    expect(Object.keys(doc.paths['/v1/system/reexec'].post.responses)).toEqual(expect.arrayContaining(['202', '409', '503']));
    const reexec = await t.app.inject({ method: 'POST', url: '/v1/system/reexec', payload: {} });
    expect(reexec.statusCode).toBe(409);
    expect(json(reexec)).toMatchObject({ code: 'PIDVISOR_ERR_NO_KEEPER' });
    expect(doc.paths['/v1/processes'].post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ServiceSpec' });
    expect(doc.paths['/v1/processes'].post.responses['201'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ProcessInfo' });
    expect(doc.paths['/v1/processes/batch'].post.operationId).toBe('launchProcesses');
    expect(doc.paths['/v1/processes'].delete.operationId).toBe('removeProcesses');
  });

  it('answers unknown routes 404 ROUTE_NOT_FOUND, foreign origins 403 CROSS_ORIGIN, internal failures 500 without internals', async () => {
    expectProblem(await t.app.inject('/v2/processes'), 404, 'PIDVISOR_ERR_ROUTE_NOT_FOUND');
    expectProblem(await t.app.inject({ method: 'PUT', url: '/v1/processes' }), 404, 'PIDVISOR_ERR_ROUTE_NOT_FOUND');
    expectProblem(await t.app.inject({ url: '/v1/processes', headers: { origin: 'https://evil.example' } }), 403, 'PIDVISOR_ERR_CROSS_ORIGIN');
    expectProblem(await t.app.inject({ url: '/v1/processes', headers: { 'sec-fetch-site': 'cross-site' } }), 403, 'PIDVISOR_ERR_CROSS_ORIGIN');

    const broken = delegate(t.supervisor, {
      list: () => {
        throw new Error('secret internal detail');
      },
    });
    const app = buildApp(broken, { rateLimit: false });
    try {
      const response = await app.inject('/v1/processes');
      const problem = expectProblem(response, 500, 'PIDVISOR_ERR_INTERNAL');
      expect(JSON.stringify(problem)).not.toContain('secret');
    } finally {
      await app.close();
    }
  });

  it('429 RATE_LIMITED with Retry-After once a caller has spent its burst', async () => {
    const app: PidvisorApp = buildApp(t.supervisor, { rateLimit: { burst: 3, perSecond: 0.5 } });
    try {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await app.inject('/healthz')).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const limited = expectProblem(await app.inject('/healthz'), 429, 'PIDVISOR_ERR_RATE_LIMITED');
      expect(limited.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(Number((await app.inject('/healthz')).headers['retry-after'])).toBeGreaterThanOrEqual(1);
    } finally {
      await app.close();
    }
  });

  it('exit records validate against the documented schema', async () => {
    await launch({ name: 'short', command: ['true'], restart: { policy: 'no' } });
    const waited = json(await t.app.inject('/v1/processes/short/wait'));
    expectSchema(ExitRecord, waited.exit);
    expect(waited.exit.rusage).not.toBeNull();
  });
});
