// POST /v1/processes?wait=ready on a real Supervisor: the answer comes once the instance is
// ready, or as 422 NOT_READY with the reason it will not be.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pollUntil } from '../helpers/proc.js';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { ProcessInfo } from '../../api/server/schemas.js';
import { createApi, expectProblem, expectSchema, json, type ApiFixture } from './support.js';

const unsupported = pidfdUnsupportedReason();
let t: ApiFixture;

beforeEach(async () => {
  t = await createApi();
});
afterEach(() => t.close());

const post = (url: string, payload: unknown) => t.app.inject({ method: 'POST', url, payload: payload as object });

describe.skipIf(unsupported !== null)('launch with wait=ready', () => {
  it('answers 201 once a logLine readiness probe has seen its line, with the process running', async () => {
    const response = await post('/v1/processes?wait=ready', {
      name: 'slow',
      command: ['sh', '-c', 'sleep 0.3; echo ready now; exec sleep 1000'],
      readiness: { kind: 'logLine', pattern: '^ready now$', periodMs: 60_000 },
    });
    expect(response.statusCode, response.body).toBe(201);
    const info = json(response);
    expectSchema(ProcessInfo, info);
    expect(info.state).toBe('running');
    // Kept once it passed: how the instance became ready.
    expect(info.probes.readiness).toMatchObject({ kind: 'logLine', lastResult: 'success', lastDetail: 'matched: ready now' });
    expect(info.health).toBe('unknown');
  });

  it('answers without waiting when wait is not asked for: the process is still starting', async () => {
    const response = await post('/v1/processes', { command: ['sleep', '1000'], readiness: { kind: 'logLine', pattern: 'never' } });
    expect(response.statusCode).toBe(201);
    expect(json(response)).toMatchObject({ state: 'starting', reason: 'started; waiting for the logLine readiness probe' });
  });

  it('answers 422 NOT_READY with the exit when the instance ends before it is ready', async () => {
    const problem = expectProblem(
      await post('/v1/processes?wait=ready', { name: 'dies', command: ['sh', '-c', 'sleep 0.2; exit 3'], restart: { policy: 'no' }, readiness: { kind: 'logLine', pattern: 'never' } }),
      422,
      'PIDVISOR_ERR_NOT_READY',
    );
    expect(problem.detail).toMatch(/did not become ready: exited: exited with code 3/);
    expect(problem).toMatchObject({ state: 'exited', timedOut: false });
  });

  it('answers 422 NOT_READY with timedOut after readyTimeoutMs; the process stays, still starting', async () => {
    const problem = expectProblem(
      await post('/v1/processes?wait=ready&readyTimeoutMs=200', { name: 'waits', command: ['sleep', '1000'], readiness: { kind: 'logLine', pattern: 'never' } }),
      422,
      'PIDVISOR_ERR_NOT_READY',
    );
    expect(problem).toMatchObject({ state: 'starting', timedOut: true });
    expect(json(await t.app.inject('/v1/processes/waits')).state).toBe('starting');
    expectProblem(await post('/v1/processes?wait=later', { command: ['true'] }), 400, 'PIDVISOR_ERR_VALIDATION');
  });

  it('waits through `waiting` for a dependency, and answers once the instance it then starts is ready', async () => {
    const flag = path.join(os.tmpdir(), `pidvisor-wait-ready-${process.pid}-${Date.now()}`);
    try {
      await post('/v1/processes', { name: 'db', command: ['sh', '-c', `while [ ! -e ${flag} ]; do sleep 0.02; done; echo up; exec sleep 1000`], readiness: { kind: 'logLine', pattern: '^up$' } });
      const answer = post('/v1/processes?wait=ready', { name: 'web', command: ['sleep', '1000'], dependsOn: { db: { condition: 'ready' } } });
      await pollUntil(() => t.supervisor.list().some((p) => p.name === 'web' && p.state === 'waiting'));
      fs.writeFileSync(flag, '');
      const response = await answer;
      expect(response.statusCode, response.body).toBe(201);
      expect(json(response).state).toBe('running');
    } finally {
      fs.rmSync(flag, { force: true });
    }
  });
});
