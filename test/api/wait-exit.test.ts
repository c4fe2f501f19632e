// POST /v1/processes?wait=exit[&remove=true] on a real Supervisor: launch, wait for the exit
// of the instance it started and (with remove) remove it, in one request, like `docker run --rm`.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp, listen } from '../../api/server/index.js';
import { ProcessInfo } from '../../api/server/schemas.js';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { pollUntil } from '../helpers/proc.js';
import { childPids, createApi, delegate, expectProblem, expectSchema, json, type ApiFixture } from './support.js';

const unsupported = pidfdUnsupportedReason();
let t: ApiFixture;

beforeEach(async () => {
  t = await createApi();
});
afterEach(() => t.close());

const post = (url: string, payload: unknown) => t.app.inject({ method: 'POST', url, payload: payload as object });
const logFiles = (): string[] => fs.readdirSync(path.join(t.stateDir, 'logs'));

describe.skipIf(unsupported !== null)('launch with wait=exit', () => {
  it('with remove=true answers 200 with the exit once the process is removed: nothing of it is left', async () => {
    const before = childPids();
    const response = await post('/v1/processes?wait=exit&remove=true', { name: 'job', command: ['sh', '-c', 'echo out; exit 3'], restart: { policy: 'no' } });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers.location).toBeUndefined();
    const info = json(response);
    expectSchema(ProcessInfo, info);
    expect(info).toMatchObject({ name: 'job', state: 'removed', pid: null, exit: { code: 3, signal: null, reason: 'exited' } });
    expect(t.supervisor.list()).toEqual([]);
    expect(logFiles()).toEqual([]);
    expect(childPids()).toEqual(before); // reaped: no zombie
  });

  it('without remove answers 201 with the process and the exit of the instance it started; the process stays', async () => {
    const response = await post('/v1/processes?wait=exit', { name: 'kept', command: ['sh', '-c', 'exit 0'], restart: { policy: 'no' } });
    expect(response.statusCode, response.body).toBe(201);
    const info = json(response);
    expect(response.headers.location).toBe(`/v1/processes/${info.id}`);
    expect(info).toMatchObject({ state: 'exited', exit: { code: 0 } });
    expect(info.exit.instance).toBe(t.supervisor.service('kept').exits[0]!.instance);
    expect(t.supervisor.get('kept').state).toBe('exited');
  });

  it('answers with the first instance even when the restart policy would start another: remove wins over the restart', async () => {
    const response = await post('/v1/processes?wait=exit&remove=true', {
      command: ['sh', '-c', 'exit 1'],
      restart: { policy: 'always', initialDelayMs: 0, jitter: 0, maxRestarts: 1000, windowMs: 1 },
    });
    expect(response.statusCode, response.body).toBe(200);
    const info = json(response);
    expect(info).toMatchObject({ state: 'removed', exit: { code: 1 } });
    expect(info.restarts).toBe(0);
    expect(t.supervisor.list()).toEqual([]);
  });

  it('removes the process even when the client went away while it waited', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-wait-exit-'));
    const server = await listen(t.app, { socketPath: path.join(dir, 'api.sock') });
    try {
      const flag = path.join(dir, 'go');
      const request = http.request({ socketPath: path.join(dir, 'api.sock'), method: 'POST', path: '/v1/processes?wait=exit&remove=true', headers: { 'content-type': 'application/json' } });
      request.on('error', () => {}); // destroyed below, on purpose
      request.end(JSON.stringify({ name: 'orphaned', command: ['sh', '-c', `while [ ! -e ${flag} ]; do sleep 0.02; done`], restart: { policy: 'no' } }));
      await pollUntil(() => t.supervisor.list().some((p) => p.name === 'orphaned' && p.state === 'running'));
      request.destroy();
      fs.writeFileSync(flag, '');
      await pollUntil(() => t.supervisor.list().length === 0);
      expect(logFiles()).toEqual([]);
    } finally {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers 503 SHUTTING_DOWN when the app closes during the wait, so the daemon can stop its services', async () => {
    let waiting = false;
    const watched = delegate(t.supervisor, { wait: (ref) => ((waiting = true), t.supervisor.wait(ref)) });
    const app = buildApp(watched, { rateLimit: false });
    const answer = app.inject({ method: 'POST', url: '/v1/processes?wait=exit&remove=true', payload: { name: 'long', command: ['sleep', '1000'] } });
    await pollUntil(() => waiting);
    await app.close();
    expectProblem(await answer, 503, 'PIDVISOR_ERR_SHUTTING_DOWN');
    expect(t.supervisor.get('long').state).toMatch(/^(starting|running)$/); // left to the daemon's shutdown
  });

  it('refuses what would start no instance to wait for, and remove without wait=exit, before anything is made', async () => {
    await post('/v1/processes', { name: 'db', command: ['sleep', '1000'] });
    const refused = [
      await post('/v1/processes?wait=exit', { name: 'web', command: ['true'], dependsOn: { db: { condition: 'started' } } }),
      await post('/v1/processes?wait=exit', { name: 'later', command: ['true'], autostart: false }),
      await post('/v1/processes?remove=true', { name: 'rm', command: ['true'] }),
      await post('/v1/processes?wait=ready&remove=true', { name: 'rm', command: ['true'] }),
      await post('/v1/processes?wait=exit&remove=yes', { name: 'rm', command: ['true'] }),
    ];
    for (const response of refused) expectProblem(response, 400, 'PIDVISOR_ERR_VALIDATION');
    expect(t.supervisor.list().map((p) => p.name)).toEqual(['db']);
  });

  it('answers 422 SPAWN_FAILED as a plain launch does when the command cannot start; nothing is left', async () => {
    const problem = expectProblem(await post('/v1/processes?wait=exit&remove=true', { command: ['/nonexistent/program'] }), 422, 'PIDVISOR_ERR_SPAWN_FAILED');
    expect(problem).toMatchObject({ errno: 'ENOENT' });
    expect(t.supervisor.list()).toEqual([]);
  });
});
