// A restart with no delay (restart.initialDelayMs 0) starts the next instance in the same turn
// of the event loop as the exit, not on a timer: Node clamps a 0 ms timeout to 1 ms, which was
// most of pidvisor's restart latency beyond runit's (bench/restart). Observed without timing:
// a 0 ms timer set when the exit is recorded must already see the new instance.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import type { ServiceInfo } from '../../daemon/service.js';
import { pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, waitForState, type TestSupervisor } from '../helpers/supervisor.js';

const skip = pidfdUnsupportedReason();
let t: TestSupervisor;
beforeEach(() => {
  t = createTestSupervisor();
});
afterEach(() => t.close());

describe.skipIf(skip !== null)('restart with no delay', () => {
  it('spawns the next instance before a 0 ms timer set at the exit fires', async () => {
    const first = await t.supervisor.launch({ name: 'nodelay', command: ['sleep', '1000'], startGraceMs: 0, restart: { policy: 'always', initialDelayMs: 0, jitter: 0 } });
    let seen: ServiceInfo | undefined;
    const subscription = t.supervisor.events.subscribe(t.supervisor.events.lastSeq, (event) => {
      // Appended while the exit is handled (the exit arrives in libuv's poll phase), before the
      // restart is decided: this timer is queued ahead of any timer the restart could use.
      if (event.type === 'exit' && event.service.name === 'nodelay') setTimeout(() => (seen = t.supervisor.get('nodelay')), 0);
    });
    try {
      process.kill(first.pid!, 'SIGKILL');
      await pollUntil(() => seen !== undefined, 10_000);
    } finally {
      subscription.unsubscribe();
    }
    expect(seen!.state).toBe('running');
    expect(seen!.pid).not.toBe(first.pid);
    expect(seen!.restarts).toBe(1);
  });

  it('a stop while the restart is pending leaves the service stopped, with no new instance', async () => {
    const first = await t.supervisor.launch({ name: 'stopped-in-backoff', command: ['sleep', '1000'], startGraceMs: 0, restart: { policy: 'always', initialDelayMs: 0, jitter: 0 } });
    let stopping: Promise<unknown> | undefined;
    const subscription = t.supervisor.events.subscribe(t.supervisor.events.lastSeq, (event) => {
      // Synchronously on entering backoff: the pending restart must be cancelled.
      if (event.type === 'state' && event.service.name === 'stopped-in-backoff' && event.to === 'backoff') stopping = t.supervisor.stop('stopped-in-backoff');
    });
    try {
      process.kill(first.pid!, 'SIGKILL');
      await pollUntil(() => stopping !== undefined, 10_000);
      await stopping;
    } finally {
      subscription.unsubscribe();
    }
    await waitForState(t.supervisor, 'stopped-in-backoff', 'stopped');
    // One more turn of the loop: a restart left pending would have run by now.
    await new Promise((resolve) => setImmediate(resolve));
    const info = t.supervisor.get('stopped-in-backoff');
    expect(info.state).toBe('stopped');
    expect(info.pid).toBeNull();
    expect(t.events.filter((e) => e.type === 'state' && e.service.name === 'stopped-in-backoff' && e.to === 'running')).toHaveLength(1);
  });
});
