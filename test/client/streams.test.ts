// pidvisor/client's streams across a real dropped connection: the Node daemon is SIGKILLed
// under its keeper, which starts a new one; the event iterator reconnects with Last-Event-ID
// and the log iterator with `after`, and neither gives anything twice nor leaves out what the
// new daemon has (the events it logged before the client came back, the records it captured).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PidvisorClient, type StreamedEvent } from '../../client/index.js';
import { capabilities, pidfdUnsupportedReason } from '../../native/index.js';
import { startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { pollUntil } from '../helpers/proc.js';
import { killLeftInstances } from '../helpers/instances.js';

function skipReason(): string | null {
  const pidfd = pidfdUnsupportedReason();
  if (pidfd !== null) return pidfd;
  if (!capabilities().features.pidfs.ok) return 'no pidfs (Linux 6.9): a daemon started by the keeper cannot take the services over';
  return null;
}
const reason = skipReason();

let dir = '';
let daemon: DaemonProcess | null = null;
const started: Array<{ pid: number; instance: string }> = [];

afterEach(async () => {
  await daemon?.stop('SIGTERM');
  daemon = null;
  killLeftInstances(started.splice(0));
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `iterate` in the background, pushing what it yields, until `abort`. */
function collect<T>(iterate: (signal: AbortSignal) => AsyncIterable<T>): { items: T[]; stop(): Promise<unknown> } {
  const items: T[] = [];
  const controller = new AbortController();
  const done = (async () => {
    for await (const item of iterate(controller.signal)) items.push(item);
  })().catch((error: unknown) => error);
  return {
    items,
    async stop() {
      controller.abort();
      const error = await done;
      if (!(error instanceof Error && error.name === 'AbortError')) throw error instanceof Error ? error : new Error(`the iterator ended: ${String(error)}`);
    },
  };
}

const seqOf = (event: StreamedEvent): number | null => ('seq' in event ? event.seq : null);
const ticksOf = (records: Array<{ data: Buffer }>): number[] => records.flatMap((r) => [...r.data.toString().matchAll(/tick (\d+)/g)].map((m) => Number(m[1])));

describe.skipIf(reason !== null)(`pidvisor/client streams across a daemon restart${reason === null ? '' : ` (skipped: ${reason})`}`, () => {
  it('events and logs resume after the daemon is killed and its keeper starts a new one', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-client-streams-'));
    const socketPath = path.join(dir, 'api.sock');
    daemon = startDaemonProcess(['--socket', socketPath, '--state-dir', path.join(dir, 'state'), '--cgroup-name', `pidvisor-test-client-streams-${process.pid}`]);
    await daemon.waitForLog((r) => r.msg === 'api listening', 30_000);
    const client = new PidvisorClient({ socketPath, retry: { attempts: 50, initialDelayMs: 50, maxDelayMs: 200 } });
    // SIGPIPE ignored: a line written while no daemon holds the pipe is lost (EPIPE), but the
    // ticker goes on, so the numbers it prints stay one sequence across the restart.
    const ticker = await client.launch({ name: 'ticker', startGraceMs: 0, command: ['sh', '-c', "trap '' PIPE; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); echo tick $i; sleep 0.02; done"] });
    started.push({ pid: ticker.pid!, instance: ticker.instance! });

    const events = collect((signal) => client.events({ after: 0, signal }));
    const logs = collect((signal) => client.followLogs('ticker', { signal }));
    try {
      // Enough records that a resume with the dead daemon's `after` would skip the new one's first ones.
      await pollUntil(() => ticksOf(logs.items).length >= 30 && events.items.length >= 2, 10_000);
      const firstNode = daemon.supervisorPid();
      const lastSeqBefore = seqOf(events.items.at(-1)!)!;
      const ticksBefore = ticksOf(logs.items).length;
      process.kill(firstNode, 'SIGKILL');
      await pollUntil(() => daemon!.logs.some((r) => r.msg === 'api listening' && r.daemonPid !== firstNode), 30_000);

      const marker = await client.launch({ name: 'after-restart', command: ['true'], restart: { policy: 'no' } });
      await pollUntil(() => events.items.some((e) => e.type === 'created' && 'service' in e && e.service.id === marker.id), 20_000);
      await pollUntil(() => ticksOf(logs.items).length >= ticksBefore + 5, 20_000);

      // Events: increasing, none twice; after the restart, exactly what the new daemon has kept.
      const seqs = events.items.map(seqOf).filter((seq): seq is number => seq !== null);
      expect(new Set(seqs).size).toBe(seqs.length);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
      const fresh = collect((signal) => client.events({ after: 0, signal }));
      await pollUntil(() => fresh.items.some((e) => e.type === 'created' && 'service' in e && e.service.id === marker.id), 10_000);
      await fresh.stop();
      const newDaemonSeqs = fresh.items.map(seqOf).filter((seq): seq is number => seq !== null && seq > lastSeqBefore);
      const markerSeq = fresh.items.find((e) => e.type === 'created' && 'service' in e && e.service.id === marker.id)!;
      expect(newDaemonSeqs.length).toBeGreaterThan(0);
      expect(seqs.filter((seq) => seq > lastSeqBefore && seq <= seqOf(markerSeq)!)).toEqual(newDaemonSeqs.filter((seq) => seq <= seqOf(markerSeq)!));

      // Logs: the ticker's numbers only increase (nothing twice), and go on after the restart
      // from the first record the new daemon captured.
      const ticks = ticksOf(logs.items);
      expect(ticks.every((tick, i) => i === 0 || tick > ticks[i - 1]!)).toBe(true);
      expect(ticks.at(-1)).toBeGreaterThan(ticks[ticksBefore - 1]!);
      const firstOfNewDaemon = ticksOf(await client.logs('ticker'))[0]!;
      expect(firstOfNewDaemon).toBeGreaterThan(ticks[ticksBefore - 1]!);
      expect(ticks).toContain(firstOfNewDaemon);
    } finally {
      await events.stop();
      await logs.stop();
      await client.removeMatching({ all: true }).catch(() => undefined);
      client.close();
    }
  });
});
