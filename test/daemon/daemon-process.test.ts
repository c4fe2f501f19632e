// The daemon as people run it: `pidvisor daemon --config FILE`. SIGHUP applies a changed
// config, restarting only the services whose definition changed (in place: reload.test.ts); SIGTERM stops everything
// and leaves no process of any service alive.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { capabilities, pidfdUnsupportedReason } from '../../native/index.js';
import { startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { pollUntil, procStat } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
let dir = '';
let daemon: DaemonProcess | undefined;

const alive = (pid: number): boolean => {
  try {
    return procStat(pid)[0] !== 'Z';
  } catch {
    return false;
  }
};

function writeConfig(services: Record<string, string[]>): string {
  const file = path.join(dir, 'pidvisor.yaml');
  const body = Object.entries(services)
    .map(([name, command]) => `  ${name}:\n    command: ${JSON.stringify(command)}\n    startGraceMs: 0\n    stopTimeoutMs: 2000`)
    .join('\n');
  fs.writeFileSync(file, `services:\n${body}\n`);
  return file;
}

/** Pid of the newest instance of each service, from the daemon's "started" log records. */
function startedPids(d: DaemonProcess): Map<string, number> {
  const pids = new Map<string, number>();
  for (const record of d.logs) if (record.msg === 'started') pids.set(String(record.service), Number(record.pid));
  return pids;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-daemon-'));
});

const cgroupName = `pidvisor-test-daemon-${process.pid}`;

afterEach(async () => {
  // A test that failed midway: stop the daemon politely, so it stops its services.
  const stopped = daemon?.stop('SIGTERM');
  const timeout = new Promise((resolve) => setTimeout(resolve, 10_000).unref());
  if (stopped !== undefined && (await Promise.race([stopped, timeout.then(() => 'timeout')])) === 'timeout') {
    await daemon?.stop('SIGKILL');
  }
  daemon = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(unsupported !== null)(`pidvisor daemon${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('reloads on SIGHUP, touching only changed services, and leaves nothing alive on SIGTERM', async () => {
    const stubborn = ['sh', '-c', 'trap "" TERM; sleep 1000 & sleep 1000 & wait'];
    const config = writeConfig({ keep: ['sleep', '1000'], change: ['sleep', '1001'], drop: ['sleep', '1002'], tree: stubborn });
    daemon = startDaemonProcess(['--config', config, '--state-dir', path.join(dir, 'state'), '--cgroup-name', cgroupName]);
    await pollUntil(() => startedPids(daemon!).size === 4, 10_000);
    const before = startedPids(daemon);

    writeConfig({ keep: ['sleep', '1000'], change: ['sleep', '1003'], add: ['sleep', '1004'], tree: stubborn });
    daemon.process.kill('SIGHUP');
    const applications = (): Array<Record<string, unknown>> => daemon!.logs.filter((r) => r.msg === 'config applied');
    await pollUntil(() => applications().length === 2, 10_000);
    expect(applications()[1]!.changes).toEqual({ added: ['add'], changed: [{ name: 'change', fields: ['command'] }], removed: ['drop'], unchanged: ['keep', 'tree'] });
    await pollUntil(() => startedPids(daemon!).has('add'), 5000);
    const after = startedPids(daemon);
    expect(after.get('keep')).toBe(before.get('keep'));
    expect(after.get('tree')).toBe(before.get('tree'));
    expect(after.get('change')).not.toBe(before.get('change'));
    expect(alive(before.get('keep')!)).toBe(true);
    expect(alive(before.get('drop')!)).toBe(false);
    expect(alive(before.get('change')!)).toBe(false);

    // Everything the services started, read from the daemon's children's process groups.
    const servicePids = [...after.values()];
    const treeMembers = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
      try {
        return procStat(pid)[2] === String(after.get('tree'));
      } catch {
        return false;
      }
    });
    expect(treeMembers.length).toBeGreaterThanOrEqual(3); // sh and its two sleeps

    expect(await daemon.stop('SIGTERM')).toBe(0);
    daemon = undefined;
    expect([...servicePids, ...treeMembers].filter(alive)).toEqual([]);
    expect(fs.existsSync(path.join(capabilities().cgroup2Mount ?? '/nonexistent', cgroupName))).toBe(false);
  }, 60_000);

  it('refuses to start with a broken config, naming the problem', async () => {
    fs.writeFileSync(path.join(dir, 'bad.yaml'), 'services:\n  a:\n    command: "not a list"\n');
    daemon = startDaemonProcess(['--config', path.join(dir, 'bad.yaml'), '--state-dir', path.join(dir, 'state'), '--cgroup-name', cgroupName]);
    let stderr = '';
    daemon.process.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await daemon.stop('SIGCONT')).toBe(1);
    expect(stderr).toMatch(/bad\.yaml:3:5: services\.a\.command: must be a list, not a string/);
    // The fatal record is written synchronously, before the process exits.
    expect(daemon.logs.some((record) => record.level === 60 && record.msg === 'daemon failed to start')).toBe(true);
    daemon = undefined;
    // Nothing left behind: the supervisor had made its cgroup root before the config failed.
    expect(fs.existsSync(path.join(capabilities().cgroup2Mount ?? '/nonexistent', cgroupName))).toBe(false);
  });
});
