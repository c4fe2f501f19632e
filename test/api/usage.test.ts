// Resource usage of running instances, end to end through the API on a real Supervisor: a
// service that holds 200 MiB shows at least that much, one that spins shows CPU near one core,
// in every kill mode (the processes of the instance are its cgroup, its group or its tree), in
// GET /v1/processes[/{id}] and in /metrics.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { ProcessInfo, ProcessList } from '../../api/server/schemas.js';
import { procStatus } from '../helpers/proc.js';
import { createApi, expectSchema, json, type ApiFixture } from './support.js';

const unsupported = pidfdUnsupportedReason();
const HOLD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/hold-memory.mjs');
const MiB = 1 << 20;
const EXTRA_FDS = 20;

interface Usage {
  cpuUsec: number;
  cpuPercent: number | null;
  memoryBytes: number | null;
  memorySource: string | null;
  tasks: number | null;
  fds: number | null;
  uptimeMs: number;
  sampledAt: string;
}

let t: ApiFixture;
beforeEach(async () => {
  // No background sampling: each sample here is one a request asked for.
  t = await createApi({}, { usageIntervalMs: 0 });
});
afterEach(() => t.close());

async function launch(name: string, command: string[], killMode: string): Promise<{ id: string; pid: number }> {
  const response = await t.app.inject({ method: 'POST', url: '/v1/processes', payload: { name, command, killMode, stdout: 'capture', startGraceMs: 0, stopTimeoutMs: 2000 } });
  expect(response.statusCode, response.body).toBe(201);
  return json(response);
}

async function usageOf(name: string): Promise<Usage> {
  const response = await t.app.inject(`/v1/processes/${name}`);
  expect(response.statusCode).toBe(200);
  const info = json(response);
  expectSchema(ProcessInfo, info);
  expect(info.usage).not.toBeNull();
  return info.usage as Usage;
}

/** Polls the API until `accept` takes a sample (a request samples at most once a second), bounded. */
async function sampleUntil(name: string, accept: (usage: Usage) => boolean, timeoutMs = 30_000): Promise<Usage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const usage = await usageOf(name);
    if (accept(usage)) return usage;
    if (Date.now() > deadline) throw new Error(`no sample of ${name} passed within ${timeoutMs} ms; the last: ${JSON.stringify(usage)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The children of `pid` (the holder the shell started). */
function children(pid: number): number[] {
  return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
}

const threads = (pids: number[]): number => pids.reduce((sum, pid) => sum + Number(procStatus(pid).get('Threads')), 0);

/** Whether this test supervisor's instance cgroups get memory.current (the cgroup v2 memory controller is on for them). */
function memoryCurrentAvailable(): boolean {
  const root = t.supervisor.system().cgroupRoot;
  return root !== null && fs.readFileSync(path.join(root, 'cgroup.subtree_control'), 'utf8').split(/\s+/).includes('memory');
}

interface Moment {
  /** The process's CPU time so far, from the kernel's scheduler (ns). */
  cpuNs: number;
  /** performance.now(), as the daemon's windows are measured. */
  at: number;
}

function moment(pid: number): Moment {
  return { cpuNs: Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]), at: performance.now() };
}

/** The first sample `accept` takes, with the kernel's CPU time of `pid` just before and after the request that took it. */
async function bracketedSample(name: string, pid: number, accept: (usage: Usage) => boolean): Promise<{ usage: Usage; before: Moment; after: Moment }> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const before = moment(pid);
    const usage = await usageOf(name);
    const after = moment(pid);
    if (accept(usage)) return { usage, before, after };
    if (Date.now() > deadline) throw new Error(`no sample of ${name} passed within 30 s; the last: ${JSON.stringify(usage)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.skipIf(unsupported !== null)('resource usage of running instances', () => {
  it.each(['cgroup', 'group', 'process'])('%s mode: 200 MiB held by a child of the main process shows as at least 200 MiB, with its threads and fds', async (killMode) => {
    // The memory is held by a child of the shell, so only a figure that covers the whole tree can reach it.
    const { pid } = await launch('holder', ['sh', '-c', `"${process.execPath}" "${HOLD}" 200 ${EXTRA_FDS} & wait`], killMode);
    const usage = await sampleUntil('holder', (u) => (u.memoryBytes ?? 0) >= 200 * MiB);
    // Node itself, the shell and the page tables add tens of MiB, not hundreds.
    expect(usage.memoryBytes!).toBeLessThan(400 * MiB);
    expect(usage.memorySource).toBe(killMode === 'cgroup' && memoryCurrentAvailable() ? 'memory.current' : 'rss');
    const members = [pid, ...children(pid)];
    expect(members).toHaveLength(2);
    // Node starts its threads as it starts, and the holder opens its files after filling its
    // memory: both settle, and are then the two processes' threads and at least stdin, stdout,
    // stderr of each plus the holder's extra files.
    const settled = await sampleUntil('holder', (u) => u.tasks === threads(members) && (u.fds ?? 0) >= EXTRA_FDS + 6);
    expect(settled.tasks).toBeGreaterThan(2);
    expect(settled.uptimeMs).toBeGreaterThan(0);
  });

  it.each(['cgroup', 'group', 'process'])("%s mode: a spinning shell's CPU is what the kernel says it used, at most one core; a sleeper's is almost none", async (killMode) => {
    // Idle for its first second, so that an average since the start is not the recent figure.
    const spinner = await launch('spinner', ['sh', '-c', 'sleep 1; while :; do :; done'], killMode);
    await launch('sleeper', ['sleep', '1000'], killMode);
    const first = await bracketedSample('spinner', spinner.pid, (u) => u.cpuUsec >= 100_000);
    const second = await bracketedSample('spinner', spinner.pid, (u) => u.sampledAt !== first.usage.sampledAt);
    // The daemon's window runs from its first sample to its second, each taken during one
    // request: the kernel's own CPU time of the shell (schedstat, in ns) over the narrowest
    // and the widest window those requests allow bounds the figure. A spinner uses one core
    // where the machine has one to spare; on a busy machine it gets less, and the daemon must
    // say how much it got. The slack covers /proc's 10 ms ticks.
    const ms = (ns: number): number => ns / 1e6;
    const least = ((ms(second.before.cpuNs - first.after.cpuNs) / (second.after.at - first.before.at)) * 100);
    const most = Math.min(100, (ms(second.after.cpuNs - first.before.cpuNs) / (second.before.at - first.after.at)) * 100);
    expect(least).toBeGreaterThan(0);
    expect(second.usage.cpuPercent).not.toBeNull();
    expect(second.usage.cpuPercent!).toBeGreaterThanOrEqual(least - 3);
    expect(second.usage.cpuPercent!).toBeLessThanOrEqual(most + 3);
    expect(second.usage.cpuUsec).toBeGreaterThanOrEqual(second.before.cpuNs / 1000 - 20_000);
    expect(second.usage.cpuUsec).toBeLessThanOrEqual(second.after.cpuNs / 1000 + 20_000);
    const sleeper = await sampleUntil('sleeper', (u) => u.cpuPercent !== null);
    expect(sleeper.cpuPercent).toBeLessThan(5);
  }, 60_000);

  it('GET /v1/processes and /metrics carry the usage of each running process; none for a stopped one', async () => {
    await launch('holder', [process.execPath, HOLD, '64', '0'], 'process');
    await launch('idle', ['sleep', '1000'], 'group');
    const stopped = await t.app.inject({ method: 'POST', url: '/v1/processes/idle/stop', payload: {} });
    expect(stopped.statusCode).toBe(200);
    await sampleUntil('holder', (u) => (u.memoryBytes ?? 0) >= 64 * MiB);
    const list = json(await t.app.inject('/v1/processes'));
    expectSchema(ProcessList, list);
    const byName = new Map(list.processes.map((p: { name: string }) => [p.name, p]));
    expect((byName.get('idle') as { usage: unknown }).usage).toBeNull();
    const holder = byName.get('holder') as { id: string; usage: Usage };
    expect(holder.usage.memoryBytes).toBeGreaterThanOrEqual(64 * MiB);
    const metrics = (await t.app.inject('/metrics')).body;
    const series = (name: string): number => {
      const match = new RegExp(`^${name}\\{id="${holder.id}",name="holder"\\} (\\S+)$`, 'm').exec(metrics);
      expect(match, `${name} for holder in\n${metrics}`).not.toBeNull();
      return Number(match![1]);
    };
    expect(series('pidvisor_process_memory_bytes')).toBeGreaterThanOrEqual(64 * MiB);
    expect(series('pidvisor_process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(series('pidvisor_process_tasks')).toBeGreaterThanOrEqual(1);
    expect(series('pidvisor_process_open_fds')).toBeGreaterThanOrEqual(3);
    expect(series('pidvisor_process_uptime_seconds')).toBeGreaterThan(0);
    expect(metrics).not.toMatch(/^pidvisor_process_memory_bytes\{[^}]*name="idle"/m);
  });
});
