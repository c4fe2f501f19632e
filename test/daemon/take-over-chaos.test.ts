// Chaos: a workload of launches, stops, starts, restarts, deletes and short-lived services
// against a real daemon, which is SIGKILLed at a random moment, 20 times in a row; after each
// take-over by a new daemon on the same state dir:
//   - every launch the API acknowledged is there under its id, every acknowledged delete is gone
//     (a delete the daemon died before answering may have begun: the next daemon finishes it);
//   - every service that runs, runs an instance that is alive, and every other instance ever
//     seen is dead, not a zombie: none twice, none orphaned;
//   - restart counters never go back and the event sequence never repeats a number.
// At the end a clean stop leaves no instance alive, and every short-lived service has an exit
// record: its exact code when a daemon saw it end, `unobserved` when none ran.
//
// This is the daemon's half (state journal, pidfs handles, cgroup sweep) without the keeper:
// output is not captured here, since a dead daemon's pipes have no reader until the keeper
// holds them. This test process is the services' subreaper (with an orphan reaper), as the
// keeper will be. The seed is printed; BENCH-like knobs: TAKEOVER_CHAOS_KILLS, TAKEOVER_CHAOS_SEED.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adopt, capabilities, OrphanReaper, setChildSubreaper } from '../../native/index.js';
import { request, startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { isZombie, pollUntilAsync } from '../helpers/proc.js';
import { killLeftInstances } from '../helpers/instances.js';
import { takeOverSkipReason } from '../helpers/take-over.js';
import { seededRandom } from '../helpers/seeded-random.js';

const KILLS = Number(process.env.TAKEOVER_CHAOS_KILLS ?? 20);
const SEED = Number(process.env.TAKEOVER_CHAOS_SEED ?? Date.now() % 2 ** 31);
const OPS_PER_ROUND = 8;
const SHORT_LIVED_MS = 300;

function skipReason(): string | null {
  const takeOver = takeOverSkipReason();
  if (takeOver !== null) return takeOver;
  if (capabilities().cgroup2Mount === null) return 'no cgroup v2 mount';
  return null;
}
const reason = skipReason();

interface Info {
  id: string;
  name: string;
  state: string;
  pid: number | null;
  instance: string | null;
  restarts: number;
  exit: { reason: string; code: number | null; signal: string | null } | null;
}

let dir = '';
let daemon: DaemonProcess | null = null;
const reaper = new OrphanReaper();
const cgroupName = `pidvisor-test-chaos-${process.pid}`;
/** Every instance seen, by token: to check that only current ones live, and to clean up. */
const instances = new Map<string, { pid: number; serviceId: string }>();

beforeAll(() => {
  if (reason !== null) return;
  setChildSubreaper(true);
  reaper.start();
});
afterAll(() => reaper.stop());
afterEach(async () => {
  await daemon?.stop('SIGTERM');
  killLeftInstances([...instances].map(([instance, { pid }]) => ({ pid, instance })));
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

const pollAsync = (what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> =>
  pollUntilAsync(condition, timeoutMs, `${what} (seed ${SEED})`);

/** Whether the process of `instance` still exists, zombie included (reached through a pidfd, never by pid alone). */
function exists(pid: number, instance: string): boolean {
  let ref;
  try {
    ref = adopt(pid, instance, { watch: false });
  } catch {
    return false; // ESRCH, or the pid names another process now
  }
  try {
    ref.signal(0);
    return true;
  } catch {
    return false;
  } finally {
    ref.close();
  }
}

describe.skipIf(reason !== null)(`take-over chaos${reason === null ? '' : ` (skipped: ${reason})`}`, () => {
  it(`survives ${KILLS} SIGKILLs of the daemon at random moments under a workload`, async () => {
    console.info(`take-over chaos: seed ${SEED}, ${KILLS} kills`);
    const rand = seededRandom(SEED);
    const pick = <T>(list: readonly T[]): T | undefined => list[Math.floor(rand() * list.length)];
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-chaos-'));
    const socket = path.join(dir, 'api.sock');
    const acked = new Map<string, { name: string; shortLived: boolean }>(); // id -> launch acknowledged
    const deleted = new Set<string>(); // ids whose delete was acknowledged
    // ids whose delete was sent but not acknowledged (the daemon died first): the removal may
    // have begun, and the next daemon then finishes it; so such a service may be gone.
    const deleteSent = new Set<string>();
    const attempted = new Set<string>(); // names of every launch sent
    const restarts = new Map<string, number>();
    let maxSeq = -1;

    const startDaemon = async (): Promise<void> => {
      // Without the keeper (which would restart the daemon itself): the journal and pidfs handles alone.
      daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state'), '--cgroup-name', cgroupName], { env: { PIDVISOR_KEEPER: 'off' } });
      const current = daemon;
      await pollAsync('the daemon to answer', async () => {
        if (current.process.exitCode !== null) throw new Error(`the daemon exited: ${JSON.stringify(current.logs.slice(-5))}`);
        return (await request(socket, 'GET', '/healthz')).status === 200;
      }, 60_000);
    };

    const check = async (round: number): Promise<Map<string, Info>> => {
      const { processes } = (await request<{ processes: Info[] }>(socket, 'GET', '/v1/processes')).body;
      const byId = new Map(processes.map((p) => [p.id, p]));
      const where = `round ${round}, seed ${SEED}`;
      for (const [id, { name }] of acked) {
        if (deleted.has(id)) expect(byId.has(id), `${where}: ${name} was deleted and is back`).toBe(false);
        else if (deleteSent.has(id) && !byId.has(id)) deleted.add(id); // gone once: must never come back
        else expect(byId.get(id)?.name, `${where}: acknowledged launch of ${name} is lost`).toBe(name);
      }
      for (const p of processes) {
        expect(attempted.has(p.name), `${where}: ${p.name} was never launched`).toBe(true);
        expect(p.restarts, `${where}: ${p.name}'s restart counter went back`).toBeGreaterThanOrEqual(restarts.get(p.id) ?? 0);
        restarts.set(p.id, p.restarts);
        if (p.pid !== null && p.instance !== null) {
          instances.set(p.instance, { pid: p.pid, serviceId: p.id });
          expect(exists(p.pid, p.instance), `${where}: ${p.name} shows instance ${p.instance}, which is gone`).toBe(true);
        }
      }
      // Every instance that is not current is dead and reaped (a stop or a sweep may still be
      // finishing it, hence the bounded wait): none twice, none orphaned, no zombie.
      const current = new Set(processes.map((p) => p.instance));
      await pollAsync(`${where}: only current instances to remain`, () =>
        [...instances].every(([instance, { pid }]) => current.has(instance) || !exists(pid, instance)),
      );
      const seq = Number(/^pidvisor_events_last_seq (\d+)$/m.exec((await request<string>(socket, 'GET', '/metrics')).body)?.[1]);
      // Equal when nothing happened since (the kill came before any request, and no service
      // exists to restore): no number was given, so none was given twice.
      expect(seq, `${where}: the event sequence went back`).toBeGreaterThanOrEqual(maxSeq);
      maxSeq = seq;
      return byId;
    };

    const workload = async (round: number, byId: Map<string, Info>): Promise<void> => {
      const live = (): string[] => [...acked.keys()].filter((id) => !deleted.has(id) && byId.has(id));
      const op = async (n: number): Promise<void> => {
        await new Promise((resolve) => setTimeout(resolve, rand() * 400));
        const choice = rand();
        const id = pick(live());
        if (choice < 0.35 || id === undefined) {
          const shortLived = rand() < 0.4;
          const name = `r${round}-${n}`;
          attempted.add(name);
          const command = shortLived ? ['sh', '-c', `sleep ${SHORT_LIVED_MS / 1000}; exit 3`] : ['sleep', '1000'];
          const reply = await request<Info>(socket, 'POST', '/v1/processes', {
            name, command, startGraceMs: 0, stdout: 'null', stderr: 'null', stopTimeoutMs: 2000,
            restart: shortLived ? { policy: 'no' } : { policy: 'always', initialDelayMs: 0 },
          });
          if (reply.status === 201) {
            acked.set(reply.body.id, { name, shortLived });
            if (reply.body.instance !== null) instances.set(reply.body.instance, { pid: reply.body.pid!, serviceId: reply.body.id });
          }
        } else if (choice < 0.5) {
          deleteSent.add(id);
          if ((await request(socket, 'DELETE', `/v1/processes/${id}`)).status === 200) deleted.add(id);
        } else {
          const action = pick(['stop', 'start', 'restart'] as const)!;
          const reply = await request<Info>(socket, 'POST', `/v1/processes/${id}/${action}`, {});
          if (reply.body.instance != null) instances.set(reply.body.instance, { pid: reply.body.pid!, serviceId: id });
        }
      };
      const ops = Array.from({ length: OPS_PER_ROUND }, (_, n) => op(n).catch(() => {})); // refused when the daemon dies
      await new Promise((resolve) => setTimeout(resolve, rand() * 500));
      const pid = daemon!.supervisorPid();
      if (pid <= 0) throw new Error('the Node daemon is not running');
      process.kill(pid, 'SIGKILL');
      await daemon!.exited;
      await Promise.all(ops);
    };

    await startDaemon();
    let byId = await check(0);
    for (let round = 1; round <= KILLS; round++) {
      await workload(round, byId);
      await startDaemon();
      byId = await check(round);
    }

    // Short-lived services end: with their code where a daemon saw it, `unobserved` where none ran.
    await new Promise((resolve) => setTimeout(resolve, SHORT_LIVED_MS));
    await pollAsync('short-lived services to end', async () => {
      const { processes } = (await request<{ processes: Info[] }>(socket, 'GET', '/v1/processes')).body;
      return processes.every((p) => !acked.get(p.id)?.shortLived || p.pid === null);
    });
    const { processes } = (await request<{ processes: Info[] }>(socket, 'GET', '/v1/processes')).body;
    for (const p of processes.filter((q) => acked.get(q.id)?.shortLived)) {
      if (p.state === 'stopped') continue; // stopped by the workload before it ended
      expect(p.exit, `${p.name} (seed ${SEED})`).toMatchObject(p.exit?.reason === 'unobserved' ? { code: null } : { reason: 'exited', code: 3 });
    }

    expect(await daemon!.stop('SIGTERM')).toBe(0);
    daemon = null;
    const mount = capabilities().cgroup2Mount;
    if (mount !== null) expect(fs.existsSync(path.join(mount, cgroupName)), 'cgroup root left after the clean stop').toBe(false);
    for (const [instance, { pid }] of instances) {
      expect(exists(pid, instance), `instance ${instance} survived the clean stop (seed ${SEED})`).toBe(false);
      expect(isZombie(pid)).toBe(false);
    }
  }, 600_000);
});
