// Captured output the disk refuses is dropped so that the service keeps running, and the loss
// is told: a rate-limited line in the daemon's log, an event, counters in /metrics and the
// dropped bytes in the process's status (API and `pidvisor status`). On real file systems: a
// 1 MiB tmpfs that fills up, and a read-only bind mount.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason, spawn } from '../../native/index.js';
import { processDetails } from '../../api/cli/format.js';
import { EventLog } from '../../daemon/events.js';
import { RotatingFile } from '../../daemon/logs/rotating-file.js';
import { logFilePath, ServiceLogs } from '../../daemon/logs/service-logs.js';
import { reportWriteFailures } from '../../daemon/logs/write-failure-report.js';
import type { ServiceInfo } from '../../daemon/service.js';
import { pollUntil } from '../helpers/proc.js';
import { createApi, json, type ApiFixture } from '../api/support.js';

const LINE = 'a line of captured output, long enough to fill a small disk quickly';
const LINES = 100_000; // about 7 MB: seven times the disk

/** Why this test cannot mount file systems here, or null. */
function mountUnavailable(): string | null {
  if (process.geteuid?.() !== 0) return 'mounting needs root';
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'pidvisor-probe', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe]);
    return null;
  } catch (error) {
    return `mount -t tmpfs is not permitted: ${(error as Error).message.split('\n')[0]}`;
  } finally {
    fs.rmdirSync(probe);
  }
}
const unavailable = pidfdUnsupportedReason() ?? mountUnavailable();

let api: ApiFixture | null = null;
const mounts: string[] = [];
let daemonLog: Array<Record<string, any>> = [];

afterEach(async () => {
  await api?.close();
  api = null;
  for (const dir of mounts.splice(0).reverse()) {
    execFileSync('umount', [dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function mountTmpfs(size: string): string {
  const dir = newDir();
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'pidvisor-test', dir]);
  mounts.push(dir);
  return dir;
}

/** Fills the file system of `dir` to the last byte with a file of zeros. */
function fillUp(dir: string): string {
  const file = path.join(dir, 'filler');
  const fd = fs.openSync(file, 'w');
  try {
    const chunk = Buffer.alloc(64 << 10);
    for (let i = 0; i < 4096; i++) {
      try {
        if (fs.writeSync(fd, chunk) < chunk.length) return file;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return file;
        throw error;
      }
    }
    throw new Error(`${dir} did not fill up`);
  } finally {
    fs.closeSync(fd);
  }
}

function newDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-logfail-'));
}

async function startApi(stateDir: string): Promise<ApiFixture> {
  daemonLog = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => daemonLog.push(JSON.parse(line)) });
  api = await createApi({}, { stateDir, logger });
  return api;
}

const failureLines = () => daemonLog.filter((line) => /^log writes fail/.test(line.msg));

async function status(fixture: ApiFixture, name: string): Promise<ServiceInfo> {
  return json(await fixture.app.inject({ method: 'GET', url: `/v1/processes/${name}` })) as ServiceInfo;
}

async function metric(fixture: ApiFixture, family: string, info: ServiceInfo): Promise<number> {
  const text = (await fixture.app.inject({ method: 'GET', url: '/metrics' })).body;
  const sample = text.split('\n').find((line) => line.startsWith(`${family}{id="${info.id}",name="${info.name}"} `));
  expect(sample, `${family} of ${info.name} in /metrics`).toBeDefined();
  return Number(sample!.split(' ').at(-1));
}

describe.skipIf(unavailable !== null)(`log write failures are told${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  it('on a full disk: one daemon log line, an event, /metrics and the status count what was dropped', async () => {
    const stateDir = mountTmpfs('1m');
    const fixture = await startApi(stateDir);
    // Writes, then waits for the test to make room before its last line.
    const flag = `${stateDir}.go`;
    const command = ['sh', '-c', `yes '${LINE}' | head -n ${LINES}; while [ ! -e ${flag} ]; do sleep 0.02; done; echo after`];
    await fixture.supervisor.launch({ name: 'chatty', command, restart: { policy: 'no' } });
    const logs = fixture.supervisor.service('chatty').logs!;
    await pollUntil(() => logs.stats().capturedBytes >= LINES * (LINE.length + 1), 30_000);
    await logs.flush();

    const info = await status(fixture, 'chatty');
    expect(info.logs).toMatchObject({ failing: true, lastError: expect.stringMatching(/ENOSPC/) });
    expect(info.logs!.writtenBytes).toBeLessThanOrEqual(1 << 20);
    expect(info.logs!.droppedBytes).toBeGreaterThan(5 << 20);
    expect(info.logs!.droppedRecords).toBeGreaterThan(LINES / 2);
    expect(info.logs!.writeFailures).toBeGreaterThanOrEqual(1);

    // One line however many writes failed: the next may come a minute later at the earliest.
    expect(failureLines()).toHaveLength(1);
    expect(failureLines()[0]).toMatchObject({ level: 40, service: 'chatty', err: { code: 'ENOSPC' }, file: expect.stringContaining('chatty.') });
    const events = fixture.events.filter((event) => event.type === 'log-write-failed');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ service: { name: 'chatty' }, reason: expect.stringMatching(/ENOSPC/), logs: { droppedBytes: expect.any(Number) } });

    expect(await metric(fixture, 'pidvisor_process_log_dropped_bytes_total', info)).toBe(info.logs!.droppedBytes);
    expect(await metric(fixture, 'pidvisor_process_log_write_failures_total', info)).toBe(info.logs!.writeFailures);
    expect(processDetails(info)).toMatch(/^logs +.* written, \d+\.\d MiB dropped \(\d+ records\); writes failing: ENOSPC/m);

    // Room again: the next output is written, and the daemon says so.
    execFileSync('mount', ['-o', 'remount,size=16m', stateDir]);
    fs.writeFileSync(flag, '');
    try {
      await pollUntil(() => fixture.supervisor.get('chatty').state === 'exited', 10_000);
      await logs.ended();
    } finally {
      fs.rmSync(flag, { force: true });
    }
    const after = await status(fixture, 'chatty');
    expect(after.logs).toMatchObject({ failing: false, droppedBytes: info.logs!.droppedBytes });
    expect(after.logs!.writtenBytes).toBeGreaterThan(info.logs!.writtenBytes);
    expect(daemonLog.filter((line) => line.msg === 'log writes succeed again')).toHaveLength(1);
    expect(processDetails(after)).toMatch(/; last failure: ENOSPC/);
  });

  it('a write torn by a full disk keeps the whole records it put down, and cuts only the torn one', async () => {
    const dir = mountTmpfs('64k');
    const file = new RotatingFile({ dir, service: 'torn', maxFileBytes: 16 << 20, keepFiles: 1 });
    // 200 KiB of 100-byte records in one queue: one write, three times the disk.
    const header = Buffer.from('2026-12-06T00:00:00.000000000Z stdout F ');
    const data = Buffer.alloc(100 - header.length - 1, 'x');
    const records = 2048;
    for (let i = 0; i < records; i++) file.append(header, data);
    await file.flush();
    const stats = file.stats();
    const written = fs.readFileSync(logFilePath(dir, 'torn'));
    expect(stats).toMatchObject({ failing: true, lastError: expect.stringMatching(/ENOSPC/) });
    // Most of the disk holds whole records (before: the torn write was cut back to nothing).
    expect(written.length).toBeGreaterThan(32 << 10);
    expect(written.length % 100).toBe(0);
    expect(stats.writtenBytes).toBe(written.length);
    expect(stats.droppedRecords).toBe(records - written.length / 100);
    await file.close();
  });

  it('on a read-only state dir: no file, and the same reports with EROFS', async () => {
    const stateDir = newDir();
    fs.mkdirSync(path.join(stateDir, 'logs'), { mode: 0o700 });
    // Root writes through permission bits: only a read-only mount refuses it.
    execFileSync('mount', ['--bind', stateDir, stateDir]);
    mounts.push(stateDir);
    execFileSync('mount', ['-o', 'remount,bind,ro', stateDir]);
    const fixture = await startApi(stateDir);
    await fixture.supervisor.launch({ name: 'quiet', command: ['sh', '-c', 'echo one; echo two >&2'], restart: { policy: 'no' } });
    await pollUntil(() => fixture.supervisor.get('quiet').state === 'exited', 10_000);
    await fixture.supervisor.service('quiet').logs!.ended();

    const info = await status(fixture, 'quiet');
    expect(info.logs).toMatchObject({ writtenBytes: 0, droppedRecords: 2, failing: true, lastError: expect.stringMatching(/EROFS/) });
    expect(fs.readdirSync(path.join(stateDir, 'logs'))).toEqual([]);
    expect(failureLines()).toHaveLength(1);
    expect(failureLines()[0]).toMatchObject({ err: { code: 'EROFS' }, droppedBytes: expect.any(Number) });
    expect(fixture.events.filter((event) => event.type === 'log-write-failed')).toHaveLength(1);
    expect(await metric(fixture, 'pidvisor_process_log_dropped_bytes_total', info)).toBe(info.logs!.droppedBytes);
    expect(processDetails(info)).toMatch(/^logs +0 B written, \d+ B dropped \(2 records\); writes failing: EROFS/m);
  });

  it('sums up the runs of failures it did not report in one line at the end of the interval', async () => {
    const dir = mountTmpfs('256k');
    let clock = 0;
    const lines: Array<Record<string, any>> = [];
    const events = new EventLog();
    const logs = new ServiceLogs({
      dir,
      service: 'svc',
      ...reportWriteFailures({
        logger: pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
        events,
        service: { id: 'x', name: 'svc' },
        file: logFilePath(dir, 'svc'),
        intervalMs: 60_000,
        now: () => clock,
      }),
    });
    const write = async (script: string): Promise<void> => {
      const child = spawn({ command: 'sh', args: ['-c', script], stdio: ['null', 'reader', 'null'] });
      logs.attach('stdout', child.stdoutReader!);
      await child.wait();
      await logs.ended();
    };
    const failing = () => lines.filter((line) => /^log writes fail/.test(line.msg));
    const recovered = () => lines.filter((line) => line.msg === 'log writes succeed again');
    try {
      // A disk full before the first byte: every write fails, one run of failures.
      let filler = fillUp(dir);
      await write(`yes '${LINE}' | head -n 1000`);
      expect(failing()).toHaveLength(1);
      expect(logs.stats()).toMatchObject({ writeFailures: 1, failing: true });
      fs.rmSync(filler);
      await write('echo room again');
      expect(recovered()).toHaveLength(1);
      expect(logs.stats().failing).toBe(false);

      // Full again within the minute: not told at once (the disk may fail and recover several
      // times meanwhile), nor when writes succeed again...
      clock = 60_000 - 300;
      filler = fillUp(dir);
      await write(`yes '${LINE}' | head -n 1000`);
      fs.rmSync(filler);
      await write('echo room again');
      const runs = logs.stats().writeFailures - 1;
      expect(runs).toBeGreaterThanOrEqual(1);
      expect(recovered()).toHaveLength(1);
      // ...but once the minute since the first report is over (300 ms from the clock's view).
      await pollUntil(() => failing().length === 2, 10_000);
      const summary = failing()[1]!;
      expect(summary).toMatchObject({ err: { code: 'ENOSPC' }, droppedBytes: expect.any(Number) });
      expect(summary.failureRuns ?? 1).toBeLessThanOrEqual(runs);
      if (summary.failureRuns !== undefined) expect(summary.msg).toBe(`log writes failed ${summary.failureRuns} times; captured output was dropped`);
      expect(events.since(0).map((event) => event.type)).toEqual(['log-write-failed', 'log-write-failed']);
    } finally {
      await logs.close();
    }
  });
});
