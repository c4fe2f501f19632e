// pidvisor's capture in the log-capture bench: a Supervisor in this process (the daemon's
// capture path without HTTP), one service per round running the writer with stdout captured.
// The module is loaded by path, so one run can also measure another build (BENCH_LOGS_BEFORE:
// the dist/daemon/supervisor.js of a checkout of main) beside this one.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { decodeLine } from '../../daemon/logs/cri-format.js';
import type { Supervisor } from '../../daemon/supervisor.js';
import type { RoundResult, Scenario, Writer } from './scenarios.js';

const NEWLINE = 0x0a;

/** sha256 of the stream a CRI log file holds (contents joined, '\n' after each F record); null when a line is not a record. */
export function criStreamSha256(file: string): { sha256: string; bytes: number } | null {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  let bytes = 0;
  let carry = Buffer.alloc(0);
  try {
    const buffer = Buffer.allocUnsafe(4 << 20);
    for (let read; (read = fs.readSync(fd, buffer)) > 0; ) {
      const chunk = carry.length === 0 ? buffer.subarray(0, read) : Buffer.concat([carry, buffer.subarray(0, read)]);
      let start = 0;
      for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
        const record = decodeLine(chunk.subarray(start, end));
        if (record === null) return null;
        hash.update(record.data);
        bytes += record.data.length;
        if (!record.partial) {
          hash.update('\n');
          bytes++;
        }
        start = end + 1;
      }
      carry = Buffer.from(chunk.subarray(start));
    }
  } finally {
    fs.closeSync(fd);
  }
  return carry.length === 0 ? { sha256: hash.digest('hex'), bytes } : null;
}

export function pidvisor(name: string, supervisorModule: string): Scenario {
  let stateDir = '';
  let writer: Writer;
  let supervisor: Supervisor | null = null;
  return {
    name,
    unavailable: () => (fs.existsSync(supervisorModule) ? null : `${supervisorModule} not found`),
    async setup(dir, w) {
      writer = w;
      stateDir = path.join(dir, name.replace(/[^a-z0-9]+/gi, '-'));
      const { Supervisor: SupervisorClass } = (await import(pathToFileURL(supervisorModule).href)) as { Supervisor: typeof Supervisor };
      supervisor = new SupervisorClass({
        stateDir,
        logger: pino({ level: 'silent' }),
        cgroupName: `pidvisor-bench-logs-${process.pid}-${name.replace(/[^a-z0-9]+/gi, '')}`,
        // One file for the whole output, as the peers write (no rotation).
        logLimits: { maxFileBytes: 4 * writer.bytes + (64 << 20), keepFiles: 1 },
      });
    },
    async round(round, verify): Promise<RoundResult> {
      const cpu0 = process.cpuUsage();
      const t0 = Number(process.hrtime.bigint()) / 1e6;
      const info = await supervisor!.launch({ name: `writer-${round}`, command: ['/bin/sh', writer.script], startGraceMs: 0, restart: { policy: 'no' } });
      await supervisor!.wait(info.id);
      const logs = supervisor!.service(info.id).logs!;
      await logs.ended();
      await logs.flush();
      const ms = Number(process.hrtime.bigint()) / 1e6 - t0;
      const cpu = process.cpuUsage(cpu0);
      const stats = logs.stats();
      const logDir = path.join(stateDir, 'logs');
      const file = path.join(logDir, fs.readdirSync(logDir).find((entry) => entry.startsWith(`writer-${round}.`) && entry.endsWith('.log'))!);
      let exact: boolean | null = null;
      if (verify) {
        const stream = criStreamSha256(file);
        exact = stats.droppedBytes === 0 && stream !== null && stream.bytes === writer.bytes && (writer.sha256 === null || stream.sha256 === writer.sha256);
      }
      await supervisor!.remove(info.id);
      fs.rmSync(file, { force: true });
      // A build from before LogStats.reads has none.
      const reads = (stats as { reads?: number }).reads;
      return { ms, exact, lostBytes: stats.droppedBytes, captureCpuMs: (cpu.user + cpu.system) / 1000, ...(reads === undefined ? {} : { reads }) };
    },
    async teardown() {
      await supervisor?.shutdown();
    },
  };
}
