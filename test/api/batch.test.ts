// The batch routes: POST /v1/processes/batch (all or nothing) and DELETE /v1/processes by
// label, through inject() with a real supervisor and real processes.
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { MAX_BATCH, ProcessList } from '../../api/server/schemas.js';
import { pollUntil, zombieChildren } from '../helpers/proc.js';
import { childPids, createApi, expectProblem, expectSchema, json, sleepSpec, type ApiFixture } from './support.js';

const unsupported = pidfdUnsupportedReason();
let t: ApiFixture;

beforeEach(async () => {
  t = await createApi();
});
afterEach(() => t.close());

const alive = (pid: number): boolean => fs.existsSync(`/proc/${pid}`);
const batch = (processes: unknown[], headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/v1/processes/batch', payload: { processes }, headers });
const removeMany = (query: string) => t.app.inject({ method: 'DELETE', url: `/v1/processes${query}` });

/** The body's launch answered `status` and left no process, service or zombie behind. */
async function expectNothingStarted(before: number[]): Promise<void> {
  expect(t.supervisor.list()).toEqual([]);
  await pollUntil(() => childPids().length === before.length && zombieChildren().length === 0, 5000);
  expect(childPids()).toEqual(before);
}

describe.skipIf(unsupported !== null)('POST /v1/processes/batch', () => {
  it('launches every entry, in order, each running once the answer comes', async () => {
    const specs = Array.from({ length: 20 }, (_, i) => sleepSpec(`b${i}`, { labels: { set: 'one', n: String(i) } }));
    const response = await batch(specs);
    expect(response.statusCode, response.body).toBe(201);
    const body = json(response);
    expectSchema(ProcessList, body);
    expect(body.processes.map((p: { name: string }) => p.name)).toEqual(specs.map((s) => s.name));
    for (const info of body.processes) {
      expect(['starting', 'running']).toContain(info.state);
      expect(alive(info.pid)).toBe(true);
      expect(info.labels.set).toBe('one');
    }
    expect(new Set(body.processes.map((p: { pid: number }) => p.pid)).size).toBe(20);
    expect(t.supervisor.list()).toHaveLength(20);
  });

  it('an invalid entry: 400 with its path, and nothing started', async () => {
    const before = childPids();
    const response = await batch([sleepSpec('ok'), { command: ['sleep', 1] }]);
    const problem = expectProblem(response, 400, 'PIDVISOR_ERR_VALIDATION');
    expect(problem.problems[0].path).toBe('/processes/1/command/1');
    await expectNothingStarted(before);
  });

  it('a name taken twice in the batch, or by an existing process: 409 with the index, and nothing started', async () => {
    const before = childPids();
    const twice = expectProblem(await batch([sleepSpec('x'), sleepSpec('y'), sleepSpec('x')]), 409, 'PIDVISOR_ERR_NAME_TAKEN');
    expect(twice).toMatchObject({ index: 2, name: 'x' });
    await expectNothingStarted(before);
    const first = await t.app.inject({ method: 'POST', url: '/v1/processes', payload: sleepSpec('taken') });
    expect(first.statusCode).toBe(201);
    const taken = expectProblem(await batch([sleepSpec('free'), sleepSpec('taken')]), 409, 'PIDVISOR_ERR_NAME_TAKEN');
    expect(taken).toMatchObject({ index: 1, name: 'taken' });
    expect(t.supervisor.list().map((p) => p.name)).toEqual(['taken']);
  });

  it('an unknown user in one entry: 422 with the index, and nothing started', async () => {
    const before = childPids();
    const problem = expectProblem(await batch([sleepSpec('a'), { command: ['true'], user: 'pidvisor-no-such-user' }]), 422, 'PIDVISOR_ERR_UNKNOWN_USER');
    expect(problem.index).toBe(1);
    await expectNothingStarted(before);
  });

  it('an entry that cannot exec: 422 SPAWN_FAILED with index, errno and stage; the others are stopped and removed', async () => {
    const before = childPids();
    const response = await batch([sleepSpec('a'), sleepSpec('b'), { command: ['/nonexistent/pidvisor-test'] }, sleepSpec('c')]);
    const problem = expectProblem(response, 422, 'PIDVISOR_ERR_SPAWN_FAILED');
    expect(problem).toMatchObject({ index: 2, errno: 'ENOENT', stage: 'execve' });
    await expectNothingStarted(before);
    const removed = t.events.filter((e) => e.type === 'removed').map((e) => e.service.name);
    expect(removed.sort()).toEqual(['a', 'b', 'c', null].sort());
  });

  it('an entry with autostart false is created but not started', async () => {
    const response = await batch([sleepSpec('on'), sleepSpec('off', { autostart: false })]);
    expect(response.statusCode, response.body).toBe(201);
    const [on, off] = json(response).processes;
    expect(alive(on.pid)).toBe(true);
    expect(off).toMatchObject({ name: 'off', state: 'stopped', pid: null });
  });

  it('more than the limit, or none: 400 and nothing started', async () => {
    const before = childPids();
    expectProblem(await batch([]), 400, 'PIDVISOR_ERR_VALIDATION');
    const tooMany = Array.from({ length: MAX_BATCH + 1 }, () => ({ command: ['true'] }));
    expectProblem(await batch(tooMany), 400, 'PIDVISOR_ERR_VALIDATION');
    await expectNothingStarted(before);
  });

  it('Idempotency-Key: a retry answers the first batch again and starts nothing more', async () => {
    const headers = { 'idempotency-key': 'batch-1' };
    const first = await batch([sleepSpec('i1'), sleepSpec('i2')], headers);
    expect(first.statusCode).toBe(201);
    const again = await batch([sleepSpec('i1'), sleepSpec('i2')], headers);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(json(again)).toEqual(json(first));
    expect(t.supervisor.list()).toHaveLength(2);
    expectProblem(await batch([sleepSpec('i3')], headers), 422, 'PIDVISOR_ERR_IDEMPOTENCY_KEY_REUSED');
  });
});

describe.skipIf(unsupported !== null)('DELETE /v1/processes', () => {
  it('by label: removes exactly the matching processes, answering once their trees are gone', async () => {
    const launched = json(
      await batch([
        sleepSpec('web1', { labels: { app: 'web', tier: 'front' } }),
        sleepSpec('web2', { labels: { app: 'web', tier: 'back' } }),
        sleepSpec('db', { labels: { app: 'db' } }),
      ]),
    ).processes as Array<{ name: string; pid: number }>;
    const pid = (name: string) => launched.find((p) => p.name === name)!.pid;
    const response = await removeMany('?label=app=web&label=tier=front');
    expect(response.statusCode, response.body).toBe(200);
    expect(json(response).processes.map((p: { name: string }) => p.name)).toEqual(['web1']);
    expect(alive(pid('web1'))).toBe(false);
    const rest = await removeMany('?label=app=web');
    expect(json(rest).processes.map((p: { name: string }) => p.name)).toEqual(['web2']);
    expect(alive(pid('web2'))).toBe(false);
    expect(alive(pid('db'))).toBe(true);
    expect(t.supervisor.list().map((p) => p.name)).toEqual(['db']);
    const none = await removeMany('?label=app=nothing');
    expect(json(none)).toEqual({ processes: [] });
  });

  it('all=true removes every process', async () => {
    const launched = json(await batch([sleepSpec('p1'), sleepSpec('p2', { labels: { a: 'b' } })])).processes as Array<{ pid: number }>;
    const response = await removeMany('?all=true');
    expect(response.statusCode).toBe(200);
    expect(json(response).processes).toHaveLength(2);
    for (const info of launched) expect(alive(info.pid)).toBe(false);
    expect(t.supervisor.list()).toEqual([]);
  });

  it('no selector, both selectors, two values for one key, or a bad selector: 400 and nothing stopped', async () => {
    const [info] = json(await batch([sleepSpec('keep', { labels: { k: 'v' } })])).processes;
    expectProblem(await removeMany(''), 400, 'PIDVISOR_ERR_VALIDATION');
    expectProblem(await removeMany('?all=true&label=k=v'), 400, 'PIDVISOR_ERR_VALIDATION');
    expectProblem(await removeMany('?label=k=v&label=k=w'), 400, 'PIDVISOR_ERR_VALIDATION');
    expectProblem(await removeMany('?label=novalue'), 400, 'PIDVISOR_ERR_VALIDATION');
    expectProblem(await removeMany('?all=yes'), 400, 'PIDVISOR_ERR_VALIDATION');
    expect(alive(info.pid)).toBe(true);
    expect(t.supervisor.list()).toHaveLength(1);
  });
});
