// dependsOn through the HTTP API: launches that name a missing process or close a cycle are
// refused with their stable codes and leave nothing behind; GET /v1/graph and the process
// object show each edge's status; a start whose dependency is gone is refused with the reason.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { DependencyGraph, ProcessInfo } from '../../api/server/schemas.js';
import { waitForState } from '../helpers/supervisor.js';
import { createApi, expectProblem, expectSchema, json, sleepSpec, type ApiFixture } from './support.js';

const unsupported = pidfdUnsupportedReason();
let t: ApiFixture;

beforeEach(async () => {
  t = await createApi();
});
afterEach(() => t.close());

const post = (url: string, payload?: unknown) => t.app.inject({ method: 'POST', url, ...(payload === undefined ? {} : { payload: payload as object }) });

describe.skipIf(unsupported !== null)('dependencies over HTTP', () => {
  it('refuses a dependency on a missing name (422 DEPENDENCY_UNKNOWN) and a cycle (422 DEPENDENCY_CYCLE), naming them; nothing is left', async () => {
    const unknown = expectProblem(await post('/v1/processes', sleepSpec('web', { dependsOn: { db: { condition: 'ready' } } })), 422, 'PIDVISOR_ERR_DEPENDENCY_UNKNOWN');
    expect(unknown).toMatchObject({ service: 'web', dependency: 'db' });
    expect(unknown.detail).toMatch(/web depends on "db", and there is no service of that name/);

    const self = expectProblem(await post('/v1/processes', sleepSpec('loop', { dependsOn: { loop: { condition: 'started' } } })), 422, 'PIDVISOR_ERR_DEPENDENCY_CYCLE');
    expect(self.cycle).toEqual(['loop', 'loop']);

    const batch = await post('/v1/processes/batch', {
      processes: [sleepSpec('a', { dependsOn: { c: { condition: 'started' } } }), sleepSpec('b', { dependsOn: { a: { condition: 'ready' } } }), sleepSpec('c', { dependsOn: { b: { condition: 'healthy' } } })],
    });
    const cycle = expectProblem(batch, 422, 'PIDVISOR_ERR_DEPENDENCY_CYCLE');
    expect(cycle.detail).toMatch(/dependency cycle: a -> c -> b -> a/);
    expect(cycle.index).toBe(0);
    expect(json(await t.app.inject('/v1/processes')).processes).toEqual([]);

    // A cycle through a process that exists: x was launched needing y, which was removed.
    expect((await post('/v1/processes', sleepSpec('y'))).statusCode).toBe(201);
    expect((await post('/v1/processes', sleepSpec('x', { dependsOn: { y: { condition: 'started' } } }))).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'DELETE', url: '/v1/processes/y' })).statusCode).toBe(200);
    const around = expectProblem(await post('/v1/processes', sleepSpec('y', { dependsOn: { x: { condition: 'started' } } })), 422, 'PIDVISOR_ERR_DEPENDENCY_CYCLE');
    expect(around.cycle).toEqual(['x', 'y', 'x']);
  });

  it('refuses a condition that does not exist with the allowed values (400 VALIDATION)', async () => {
    const problem = expectProblem(await post('/v1/processes', sleepSpec('web', { dependsOn: { db: { condition: 'up' } } })), 400, 'PIDVISOR_ERR_VALIDATION');
    expect(JSON.stringify(problem.problems)).toContain('/dependsOn/db/condition');
  });

  it('GET /v1/graph: nodes, edges with status and reason, start order; the process object lists its dependencies', async () => {
    await post('/v1/processes', sleepSpec('db', { startGraceMs: 60_000 }));
    await post('/v1/processes', sleepSpec('cache', { startGraceMs: 0 }));
    const web = json(await post('/v1/processes', sleepSpec('web', { dependsOn: { db: { condition: 'ready' }, cache: { condition: 'started', restart: 'propagate' } } })));
    expectSchema(ProcessInfo, web);
    expect(web.state).toBe('waiting');
    expect(web.pid).toBeNull();
    expect(web.dependencies).toEqual([
      { name: 'db', condition: 'ready', restart: 'none', status: 'waiting', reason: expect.stringMatching(/^db is starting/) },
      { name: 'cache', condition: 'started', restart: 'propagate', status: 'met', reason: '' },
    ]);

    const response = await t.app.inject('/v1/graph');
    expect(response.statusCode).toBe(200);
    const graph = json(response);
    expectSchema(DependencyGraph, graph);
    expect(graph.startOrder).toEqual([['db', 'cache'], ['web']]);
    expect(graph.nodes.map((n: { name: string; state: string }) => [n.name, n.state])).toEqual([
      ['db', 'starting'],
      ['cache', 'running'],
      ['web', 'waiting'],
    ]);
    expect(graph.edges).toEqual(web.dependencies.map((d: object) => ({ from: 'web', ...d })));
    const doc = json(await t.app.inject('/openapi.json'));
    expect(doc.paths['/v1/graph'].get.operationId).toBe('getGraph');
    expect(JSON.stringify(doc.components.schemas.ProcessInfo ?? doc)).toContain('completedSuccessfully');
  });

  it('POST start: 409 DEPENDENCY_UNAVAILABLE when a dependency is gone; it starts what it needs first otherwise', async () => {
    await post('/v1/processes', sleepSpec('db', { autostart: false }));
    // Launched with start: its stopped dependency is started first.
    const web = json(await post('/v1/processes', sleepSpec('web', { dependsOn: { db: { condition: 'started' } } })));
    expect(web.state).not.toBe('waiting');
    expect(json(await t.app.inject('/v1/processes/db')).pid).not.toBeNull();

    await post('/v1/processes/web/stop');
    await post('/v1/processes/db/stop');
    const started = json(await post('/v1/processes/web/start'));
    expect(['starting', 'running']).toContain(started.state);
    expect(['starting', 'running']).toContain(json(await t.app.inject('/v1/processes/db')).state);

    await post('/v1/processes/web/stop');
    await t.app.inject({ method: 'DELETE', url: '/v1/processes/db' });
    const refused = expectProblem(await post('/v1/processes/web/start'), 409, 'PIDVISOR_ERR_DEPENDENCY_UNAVAILABLE');
    expect(refused).toMatchObject({ service: 'web', dependency: 'db', condition: 'started' });
    expect(json(await t.app.inject('/v1/processes/web')).state).toBe('stopped');
    await waitForState(t.supervisor, 'web', 'stopped', 1000);
  });
});
