// Supervisor.launchMany past one chunk of clones: the event loop runs between chunks, and what
// other requests do meanwhile (remove an entry, shut down) ends the batch cleanly. Also: two
// removals of one service at once forget it once.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { SupervisorError } from '../../daemon/errors.js';
import { isRunning, pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
let t: TestSupervisor;

beforeEach(() => {
  t = createTestSupervisor();
});
afterEach(() => t.close());

const alive = isRunning;
const sleeps = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `s${i}`, command: ['sleep', '1000'], stdout: 'null', stderr: 'null', stopTimeoutMs: 2000 }));

async function expectNothingLeft(pids: number[]): Promise<void> {
  expect(t.supervisor.list()).toEqual([]);
  await pollUntil(() => pids.every((pid) => !alive(pid)), 5000);
}

describe.skipIf(unsupported !== null)(`launchMany in chunks${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('starts a batch larger than a chunk, every entry running, in order', async () => {
    const infos = await t.supervisor.launchMany(sleeps(150));
    expect(infos.map((info) => info.name)).toEqual(sleeps(150).map((spec) => spec.name));
    expect(infos.every((info) => info.pid !== null && alive(info.pid))).toBe(true);
  });

  it('an entry removed by another request before its chunk starts: SERVICE_NOT_FOUND with its index, and the rest rolled back', async () => {
    const started: number[] = [];
    let removal: Promise<unknown> | null = null;
    t.supervisor.events.subscribe(t.supervisor.events.lastSeq, (event) => {
      if (event.type === 'state' && event.from === 'stopped' && typeof event.pid === 'number') started.push(event.pid);
      // During the first chunk: by the time the batch yields, entry 140 (third chunk) is gone.
      if (removal === null && event.type === 'state' && event.from === 'stopped') removal = Promise.resolve().then(() => t.supervisor.remove('s140'));
    });
    const error = (await t.supervisor.launchMany(sleeps(150)).catch((e: unknown) => e)) as SupervisorError;
    expect(error).toBeInstanceOf(SupervisorError);
    expect(error.code).toBe('SERVICE_NOT_FOUND');
    expect(error.details.index).toBe(140);
    await removal;
    expect(started.length).toBeGreaterThan(0);
    await expectNothingLeft(started);
  });

  it('a shutdown between chunks ends the batch with SHUTTING_DOWN and leaves nothing', async () => {
    const started: number[] = [];
    let shutdown: Promise<void> | null = null;
    t.supervisor.events.subscribe(t.supervisor.events.lastSeq, (event) => {
      if (event.type === 'state' && event.from === 'stopped' && typeof event.pid === 'number') started.push(event.pid);
      if (shutdown === null && event.type === 'state' && event.from === 'stopped') shutdown = Promise.resolve().then(() => t.supervisor.shutdown());
    });
    const error = (await t.supervisor.launchMany(sleeps(100)).catch((e: unknown) => e)) as SupervisorError;
    expect(error.code).toBe('SHUTTING_DOWN');
    await shutdown;
    await expectNothingLeft(started);
  });

  it('two removals of one service at once: both answer, it is forgotten once', async () => {
    const [info] = await t.supervisor.launchMany(sleeps(1));
    const [a, b] = await Promise.all([t.supervisor.remove(info!.id), t.supervisor.remove(info!.id)]);
    expect(a.id).toBe(info!.id);
    expect(b.id).toBe(info!.id);
    expect(t.events.filter((event) => event.type === 'removed' && event.service.id === info!.id)).toHaveLength(1);
    expect(alive(info!.pid!)).toBe(false);
  });
});
