// A daemon SIGKILLed with services running, and a new daemon on the same state dir: it must
// take every service over (same id, pid, instance, restart counter), start no second copy
// (a config service that holds a port must not crash-loop on EADDRINUSE), record what ended
// while no daemon ran, and continue the event sequence. A clean SIGTERM, by contrast, stops
// every service, and the next daemon restores none of those launched through the API.
//
// Without the keeper, the services of a SIGKILLed daemon are re-parented to the nearest
// subreaper: this test process is one (with an orphan reaper), as the keeper will be, so that
// their exits are reaped and a later daemon learns their status (PIDFD_INFO_EXIT, Linux 6.15).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { capabilities, spawn } from '../../native/index.js';
import { request, startDaemonProcess } from '../helpers/daemon-process.js';
import { isRunning, pollUntil, pollUntilAsync } from '../helpers/proc.js';
import { freeLoopbackPort } from '../helpers/ports.js';
import { keeperlessDaemons, takeOverSkipReason, type ListedProcess } from '../helpers/take-over.js';

const reason = takeOverSkipReason();
const cgroupName = `pidvisor-test-takeover-${process.pid}`;
// Each test starts two or three daemons (node, fastify): seconds each when the machine is busy.
const DAEMONS_TEST_TIMEOUT_MS = 120_000;
const { reaped, seen, makeDir, start, track, forget, sigkill, list, launch } = keeperlessDaemons(cgroupName, { skipped: reason !== null });

async function lastSeq(socket: string): Promise<number> {
  const text = (await request<string>(socket, 'GET', '/metrics')).body;
  return Number(/^pidvisor_events_last_seq (\d+)$/m.exec(text)?.[1]);
}

describe.skipIf(reason !== null)(`take-over after a daemon crash${reason === null ? '' : ` (skipped: ${reason})`}`, () => {
  it('re-adopts every running service after a SIGKILL: same ids, pids, instances and counters, no second copy', async () => {
    const dir = makeDir('pidvisor-takeover-');
    const port = await freeLoopbackPort();
    const config = path.join(dir, 'pidvisor.yaml');
    // A config service that holds a port: a second copy would die of EADDRINUSE, again and again.
    const listener = `require('net').createServer().listen(${port}, '127.0.0.1')`;
    fs.writeFileSync(config, `services:\n  web:\n    command: ${JSON.stringify([process.execPath, '-e', listener])}\n    startGraceMs: 0\n    stdout: 'null'\n`);
    const first = await start(['--config', config]);
    await pollUntil(() => first.daemon.logs.some((r) => r.msg === 'started' && r.service === 'web'), 10_000);

    await launch(first.socket, { name: 'quiet', command: ['sleep', '1000'] });
    await launch(first.socket, { name: 'grouped', command: ['sh', '-c', 'sleep 1000 & wait'], killMode: 'group' });
    // Fails three times in a row, then is failed: its counter is the state to keep.
    await launch(first.socket, { name: 'counted', command: ['sh', '-c', 'exit 3'], restart: { policy: 'on-failure', initialDelayMs: 0, maxRestarts: 2 } });
    // Ends by itself, with code 7, once the file appears: while no daemon runs.
    const endNow = path.join(dir, 'end-now');
    const waitThenExit = `while [ ! -e ${endNow} ]; do sleep 0.02; done; exit 7`;
    const ender = await launch(first.socket, { name: 'ender', command: ['sh', '-c', waitThenExit], restart: { policy: 'no' } });
    // Captured output: says hello, and pong on each SIGUSR1 (its write needs a reader, or SIGPIPE).
    const talker = await launch(first.socket, { name: 'talker', command: ['sh', '-c', 'trap "echo pong" USR1; echo hello; while :; do sleep 0.05; done'], stdout: 'capture' });
    const output = async (socket: string): Promise<string> => (await request<string>(socket, 'GET', '/v1/processes/talker/logs?format=text&stream=stdout')).body;
    await pollUntilAsync(async () => (await output(first.socket)).includes('hello'));
    // Restarted on any exit: while no daemon runs it is killed, and the new daemon restarts it.
    const phoenix = await launch(first.socket, { name: 'phoenix', command: ['sleep', '1000'], restart: { policy: 'always', initialDelayMs: 0 } });
    await pollUntilAsync(async () => (await list(first.socket)).get('counted')?.state === 'failed');
    // Ignores SIGTERM: the crash comes in the middle of its stop, which the next daemon finishes.
    const stubborn = await launch(first.socket, { name: 'stubborn', command: ['sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done'], stopTimeoutMs: 1000 });
    await pollUntil(() => fs.readFileSync(`/proc/${stubborn.pid}/status`, 'utf8').includes('SigIgn:\t0000000000004000'), 10_000);
    void request(first.socket, 'POST', '/v1/processes/stubborn/stop', { timeoutMs: 60_000 }).catch(() => {});
    await pollUntilAsync(async () => (await list(first.socket)).get('stubborn')?.state === 'stopping');
    // The same in the middle of a removal, which the next daemon finishes too.
    const doomed = await launch(first.socket, { name: 'doomed', command: ['sh', '-c', 'trap "" TERM; while :; do sleep 0.05; done'], stopTimeoutMs: 1000 });
    await pollUntil(() => fs.readFileSync(`/proc/${doomed.pid}/status`, 'utf8').includes('SigIgn:\t0000000000004000'), 10_000);
    void request(first.socket, 'DELETE', '/v1/processes/doomed?timeoutMs=60000').catch(() => {});
    await pollUntilAsync(async () => (await list(first.socket)).get('doomed')?.state === 'removing');

    const before = await list(first.socket);
    const seqBefore = await lastSeq(first.socket);
    await sigkill(first.daemon);

    // While no daemon runs: phoenix is killed from outside (we are its reaper now: its pid
    // cannot be reused before we reap it), and ender ends by itself.
    process.kill(phoenix.pid!, 'SIGKILL');
    fs.writeFileSync(endNow, '');
    await pollUntil(() => reaped.some((o) => o.pid === phoenix.pid) && reaped.some((o) => o.pid === ender.pid), 10_000);
    // We saw its status as its reaper; without the keeper, no daemon can know it.
    expect(reaped.find((o) => o.pid === ender.pid)?.exit.code).toBe(7);

    // A spawn the journal never recorded (the daemon died between the clone and the write):
    // a process in a cgroup of this daemon's subtree that no service owns.
    const strayCgroup = path.join(capabilities().cgroup2Mount!, cgroupName, 'stray.000000000000.1');
    fs.mkdirSync(strayCgroup);
    const stray = spawn({ command: 'sleep', args: ['1000'], cgroup: strayCgroup });
    seen.push({ pid: stray.pid, instance: stray.instance });

    const second = await start(['--config', config]);
    // The new daemon killed it: nothing a dead daemon started runs on unsupervised.
    expect(await stray.wait()).toMatchObject({ signal: 'SIGKILL' });
    await pollUntil(() => !fs.existsSync(strayCgroup), 10_000);
    const after = await list(second.socket);
    for (const name of ['web', 'quiet', 'grouped', 'talker']) {
      const [was, is] = [before.get(name)!, after.get(name)!];
      expect(is, name).toMatchObject({ id: was.id, pid: was.pid, instance: was.instance, restarts: was.restarts, state: 'running', origin: was.origin });
      expect(isRunning(was.pid!)).toBe(true);
    }
    // No second copy of anything: the new daemon spawned only phoenix's replacement.
    const spawned = second.daemon.logs.filter((r) => r.msg === 'started').map((r) => r.service);
    expect(spawned).toEqual(['phoenix']);
    expect(after.get('counted')).toMatchObject({ id: before.get('counted')!.id, state: 'failed', restarts: 2, exit: { code: 3, reason: 'exited' } });
    // What ended while no daemon ran is recorded with what is known, and the policy applied.
    expect(after.get('ender')).toMatchObject({ state: 'exited', pid: null, exit: { reason: 'unobserved', pid: ender.pid, instance: ender.instance } });
    let phoenixNow: ListedProcess | undefined;
    await pollUntilAsync(async () => (phoenixNow = (await list(second.socket)).get('phoenix'))?.state === 'running');
    expect(phoenixNow).toMatchObject({ id: phoenix.id, restarts: 1, exit: { reason: 'unobserved', pid: phoenix.pid } });
    expect(phoenixNow!.pid).not.toBe(phoenix.pid);
    // Its output is read again: what it writes now reaches the new daemon's log.
    await request(second.socket, 'POST', '/v1/processes/talker/signal', { signal: 'SIGUSR1', instance: talker.instance });
    await pollUntilAsync(async () => (await output(second.socket)).includes('pong'));
    expect((await list(second.socket)).get('talker')).toMatchObject({ pid: talker.pid, instance: talker.instance, state: 'running' });
    // The stop that was under way is finished by the new daemon (with its own timeout: SIGKILL).
    await pollUntilAsync(async () => (await list(second.socket)).get('stubborn')?.state === 'stopped');
    expect((await list(second.socket)).get('stubborn')).toMatchObject({ id: stubborn.id, exit: { pid: stubborn.pid, signal: 'SIGKILL', reason: 'killed' } });
    await pollUntilAsync(async () => !(await list(second.socket)).has('doomed'));
    await pollUntil(() => !isRunning(doomed.pid!), 10_000);
    // The event sequence continues after the dead daemon's, never repeating a number.
    expect(await lastSeq(second.socket)).toBeGreaterThan(seqBefore);

    // The re-adopted processes are supervised: a stop goes through the held pidfd, and the
    // exit is recorded exactly (we reap it as their reaper; the daemon reads PIDFD_INFO_EXIT).
    const stopped = await request<ListedProcess>(second.socket, 'POST', '/v1/processes/quiet/stop', {});
    expect(stopped.body).toMatchObject({ state: 'stopped', exit: { reason: 'stopped', signal: 'SIGTERM', pid: before.get('quiet')!.pid } });
    const grouped = before.get('grouped')!;
    await request(second.socket, 'DELETE', '/v1/processes/grouped');
    await pollUntil(() => !isRunning(grouped.pid!), 10_000);

    // A clean stop of the daemon that took over still stops everything, re-adopted or not.
    expect(await second.daemon.stop('SIGTERM')).toBe(0);
    forget(second.daemon);
    for (const pid of [before.get('web')!.pid!, phoenixNow!.pid!]) await pollUntil(() => !isRunning(pid), 10_000);
    // Its subtree, made by the first daemon, is removed as the first would have removed it.
    expect(fs.existsSync(path.join(capabilities().cgroup2Mount!, cgroupName)), 'cgroup root left after the clean stop').toBe(false);
  }, DAEMONS_TEST_TIMEOUT_MS);

  it('after a reboot (another boot id in the journal) adopts nothing: every instance ended, none is signalled', async () => {
    const dir = makeDir('pidvisor-takeover-');
    const first = await start([]);
    // Group kill mode: no cgroup, which the take-over's sweep would (rightly) empty.
    const quiet = await launch(first.socket, { name: 'quiet', command: ['sleep', '1000'], restart: { policy: 'no' }, killMode: 'group' });
    await sigkill(first.daemon);
    // Rewrite the journal as if these records came from the boot before this one. The process
    // still runs here: a pidfs handle or instance token from another boot could match it.
    const journal = path.join(dir, 'state', 'state.journal');
    const ourBoot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const rewritten = fs
      .readFileSync(journal, 'utf8')
      .split('\n')
      .map((line) => {
        if (!line.includes(ourBoot)) return line;
        const json = line.slice(17).replaceAll(ourBoot, '00000000-0000-0000-0000-000000000000');
        return `${createHash('sha256').update(json).digest('hex').slice(0, 16)} ${json}`;
      });
    fs.writeFileSync(journal, rewritten.join('\n'));
    const second = await start([]);
    expect((await list(second.socket)).get('quiet')).toMatchObject({ state: 'exited', pid: null, exit: { reason: 'unobserved', pid: quiet.pid } });
    expect(isRunning(quiet.pid!)).toBe(true); // neither adopted nor killed
  }, DAEMONS_TEST_TIMEOUT_MS);

  it('a second daemon refused on a live daemon\'s state dir neither reads its journal nor touches its services', async () => {
    const dir = makeDir('pidvisor-takeover-');
    const first = await start([]);
    const quiet = await launch(first.socket, { name: 'quiet', command: ['sleep', '1000'] });
    const journal = path.join(dir, 'state', 'state.journal');
    const journalBefore = { ino: fs.statSync(journal).ino, text: fs.readFileSync(journal, 'utf8') };
    const seqBefore = await lastSeq(first.socket);

    // Refused by the state-dir lock. Had it opened the journal first, it would have compacted
    // it (a new file renamed over the live daemon's) and held the live daemon's services.
    const refused = startDaemonProcess(['--socket', path.join(dir, 'second.sock'), '--state-dir', path.join(dir, 'state'), '--cgroup-name', cgroupName]);
    track(refused);
    expect(await refused.exited).toBe(1);
    forget(refused);
    expect(refused.logs.find((r) => r.msg === 'daemon failed to start')?.err).toMatchObject({ type: 'StateDirBusyError' });
    expect(refused.logs.some((r) => r.msg === 'took over from the previous daemon')).toBe(false);
    expect({ ino: fs.statSync(journal).ino, text: fs.readFileSync(journal, 'utf8') }).toEqual(journalBefore);

    // The live daemon still has its service, and the journal it writes is the one on disk: a
    // launch after the refusal is taken over by the next daemon.
    expect((await list(first.socket)).get('quiet')).toMatchObject({ id: quiet.id, pid: quiet.pid, instance: quiet.instance, state: 'running' });
    expect(await lastSeq(first.socket)).toBe(seqBefore);
    const later = await launch(first.socket, { name: 'later', command: ['sleep', '1000'] });
    await sigkill(first.daemon);
    const next = await start([]);
    const after = await list(next.socket);
    for (const was of [quiet, later]) {
      expect(after.get(was.name!), was.name!).toMatchObject({ id: was.id, pid: was.pid, instance: was.instance, state: 'running' });
    }
  }, DAEMONS_TEST_TIMEOUT_MS);

  it('refuses to start on a corrupt journal, naming the file and the line, and changes nothing', async () => {
    const dir = makeDir('pidvisor-takeover-');
    const first = await start([]);
    await launch(first.socket, { name: 'quiet', command: ['sleep', '1000'] });
    await sigkill(first.daemon);
    const journal = path.join(dir, 'state', 'state.journal');
    const lines = fs.readFileSync(journal, 'utf8').split('\n');
    const damaged = lines.findIndex((l) => l.includes('"quiet"'));
    lines[damaged] = lines[damaged]!.replace('"quiet"', '"qu1et"');
    fs.writeFileSync(journal, lines.join('\n'));
    const second = startDaemonProcess(['--socket', path.join(dir, 'api.sock'), '--state-dir', path.join(dir, 'state'), '--cgroup-name', cgroupName]);
    track(second);
    await pollUntil(() => second.process.exitCode !== null, 20_000).catch(() => {
      throw new Error(`the daemon did not refuse the corrupt journal: ${JSON.stringify(second.logs)}`);
    });
    expect(second.process.exitCode).toBe(1);
    forget(second);
    expect(second.logs.find((r) => r.msg === 'daemon failed to start')?.err).toMatchObject({ code: 'STATE_CORRUPT', line: damaged + 1 });
    expect(fs.readFileSync(journal, 'utf8')).toBe(lines.join('\n'));
  }, DAEMONS_TEST_TIMEOUT_MS);

  it('after a clean SIGTERM stop, the next daemon restores none of the services launched through the API', async () => {
    makeDir('pidvisor-takeover-');
    const first = await start([]);
    const quiet = await launch(first.socket, { name: 'quiet', command: ['sleep', '1000'] });
    const seqBefore = await lastSeq(first.socket);
    expect(await first.daemon.stop('SIGTERM')).toBe(0);
    forget(first.daemon);
    expect(isRunning(quiet.pid!)).toBe(false);

    const second = await start([]);
    expect([...(await list(second.socket)).keys()]).toEqual([]);
    // The name is free again, and the event numbering still continues (SSE clients never see
    // a number twice).
    const again = await launch(second.socket, { name: 'quiet', command: ['sleep', '1000'] });
    expect(again.id).not.toBe(quiet.id);
    expect(await lastSeq(second.socket)).toBeGreaterThan(seqBefore);
  }, DAEMONS_TEST_TIMEOUT_MS);
});
