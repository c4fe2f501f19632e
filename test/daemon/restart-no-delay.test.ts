// A restart with no delay (restart.initialDelayMs 0) starts the next instance in the same turn
// of the event loop as the exit, not on a timer: Node clamps a 0 ms timeout to 1 ms, which was
// most of pidvisor's restart latency beyond runit's (bench/restart). Observed without timing:
// a 0 ms timer set when the exit is recorded must already see the new instance.
// The next instance is even cloned before the exit is recorded (Service.#cloneAhead), the
// events still coming in their order; observed as a child process of this one that already
// exists when the exit event is appended.
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import type { ServiceInfo } from '../../daemon/service.js';
import { pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, waitForState, type TestSupervisor } from '../helpers/supervisor.js';

const skip = pidfdUnsupportedReason();

/** This process's children, spawned from any of its threads. */
function ownChildren(): number[] {
  return fs
    .readdirSync('/proc/self/task')
    .flatMap((tid) => fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number));
}

const NO_DELAY = { policy: 'always', initialDelayMs: 0, jitter: 0 } as const;
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

  it('clones the next instance before the exit is recorded; the events keep their order', async () => {
    const first = await t.supervisor.launch({ name: 'ahead', command: ['sleep', '1000'], startGraceMs: 0, restart: NO_DELAY });
    const before = new Set(ownChildren());
    const afterSeq = t.supervisor.events.lastSeq;
    let newAtExit: number[] | undefined;
    const subscription = t.supervisor.events.subscribe(afterSeq, (event) => {
      // Appended synchronously while the exit is handled: a child made since the kill is the next instance.
      if (event.type === 'exit' && event.service.name === 'ahead') newAtExit = ownChildren().filter((pid) => !before.has(pid));
    });
    try {
      process.kill(first.pid!, 'SIGKILL');
      await pollUntil(() => t.supervisor.get('ahead').restarts === 1 && t.supervisor.get('ahead').state === 'running', 10_000);
    } finally {
      subscription.unsubscribe();
    }
    const second = t.supervisor.get('ahead');
    expect(newAtExit).toEqual([second.pid]);
    const seen = t.events.filter((e) => e.seq > afterSeq && e.service.name === 'ahead').map((e) => (e.type === 'state' ? `${e.to}` : `${e.type} ${e.pid ?? ''}`));
    expect(seen).toEqual([`exit ${first.pid}`, 'backoff', 'running', `ready ${second.pid}`]);
  });

  it('an instance cloned ahead is killed and reaped when a stop calls its restart off', async () => {
    const first = await t.supervisor.launch({ name: 'called-off', command: ['sleep', '1000'], startGraceMs: 0, restart: NO_DELAY });
    const before = new Set(ownChildren());
    let cloned: number[] = [];
    let stopping: Promise<unknown> | undefined;
    const subscription = t.supervisor.events.subscribe(t.supervisor.events.lastSeq, (event) => {
      if (event.type !== 'state' || event.service.name !== 'called-off' || event.to !== 'backoff') return;
      cloned = ownChildren().filter((pid) => !before.has(pid));
      stopping = t.supervisor.stop('called-off');
    });
    try {
      process.kill(first.pid!, 'SIGKILL');
      await pollUntil(() => stopping !== undefined, 10_000);
      await stopping;
    } finally {
      subscription.unsubscribe();
    }
    expect(cloned).toHaveLength(1);
    // Killed and reaped by the daemon (not left running, nor a zombie of this process).
    await pollUntil(() => !ownChildren().includes(cloned[0]!), 10_000);
    const info = t.supervisor.get('called-off');
    expect(info.state).toBe('stopped');
    expect(info.restarts).toBe(0);
    // afterEach: the cgroup root must be empty (the clone's cgroup removed).
  });

  it('someone waiting for the exit acts on it before the restart: a removal at the exit starts nothing', async () => {
    const first = await t.supervisor.launch({ name: 'waited', command: ['sleep', '1000'], startGraceMs: 0, restart: NO_DELAY });
    const before = new Set(ownChildren());
    const afterSeq = t.supervisor.events.lastSeq;
    let newAtExit: number[] | undefined;
    const subscription = t.supervisor.events.subscribe(afterSeq, (event) => {
      if (event.type === 'exit' && event.service.name === 'waited') newAtExit = ownChildren().filter((pid) => !before.has(pid));
    });
    // As a launch with wait=exit&remove=true does.
    const removed = t.supervisor.wait('waited').then(() => t.supervisor.remove('waited'));
    try {
      process.kill(first.pid!, 'SIGKILL');
      await removed;
    } finally {
      subscription.unsubscribe();
    }
    expect(newAtExit).toEqual([]);
    expect(t.events.filter((e) => e.seq > afterSeq && e.service.name === 'waited' && e.type === 'state' && e.to === 'running')).toHaveLength(0);
  });
});
