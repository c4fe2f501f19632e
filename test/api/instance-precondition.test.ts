// Stop and restart with `instance`: what the dashboard's buttons send, so a click made on a
// page that shows an instance which has since been replaced reaches nothing.
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { pollUntil } from '../helpers/proc.js';
import { waitForState } from '../helpers/supervisor.js';
import { createApi, expectProblem, json, sleepSpec, type ApiFixture } from './support.js';

const unsupported = pidfdUnsupportedReason();
let t: ApiFixture;

beforeEach(async () => {
  t = await createApi();
});
afterEach(() => t.close());

const alive = (pid: number): boolean => fs.existsSync(`/proc/${pid}`);
const post = (url: string, payload: unknown) => t.app.inject({ method: 'POST', url, payload: payload as object });

describe.skipIf(unsupported !== null)('instance precondition of stop and restart', () => {
  it('a stop or restart naming a replaced instance is refused (409 INSTANCE_MISMATCH) and leaves the new one running', async () => {
    const first = json(await post('/v1/processes', sleepSpec('web', { restart: { policy: 'always', initialDelayMs: 0 } })));
    // The instance a stale page still shows is killed; the daemon starts a new one.
    process.kill(first.pid, 'SIGKILL');
    await pollUntil(() => {
      const now = t.supervisor.get('web');
      return now.instance !== null && now.instance !== first.instance;
    }, 10_000);
    const second = t.supervisor.get('web');

    for (const action of ['stop', 'restart']) {
      const refused = expectProblem(await post(`/v1/processes/web/${action}`, { instance: first.instance }), 409, 'PIDVISOR_ERR_INSTANCE_MISMATCH');
      expect(refused.current).toBe(second.instance);
      expect(t.supervisor.get('web')).toMatchObject({ instance: second.instance, pid: second.pid });
      expect(alive(second.pid!)).toBe(true);
    }

    const restarted = await post('/v1/processes/web/restart', { instance: second.instance });
    expect(restarted.statusCode, restarted.body).toBe(200);
    const third = json(restarted);
    expect(third.instance).not.toBe(second.instance);
    await pollUntil(() => !alive(second.pid!), 10_000);

    const stopped = await post('/v1/processes/web/stop', { instance: third.instance });
    expect(stopped.statusCode, stopped.body).toBe(200);
    expect(json(stopped)).toMatchObject({ state: 'stopped', pid: null });
    expect(alive(third.pid)).toBe(false);
  });

  it('with nothing running, a stop naming an instance is 409 NOT_RUNNING; without one it is the plain stop', async () => {
    const info = json(await post('/v1/processes', sleepSpec('web', { restart: { policy: 'no' } })));
    process.kill(info.pid, 'SIGTERM');
    await waitForState(t.supervisor, 'web', 'exited');
    expectProblem(await post('/v1/processes/web/stop', { instance: info.instance }), 409, 'PIDVISOR_ERR_NOT_RUNNING');
    expect(t.supervisor.get('web').state).toBe('exited');
    const plain = await post('/v1/processes/web/stop', {});
    expect(plain.statusCode).toBe(200);
  });
});
