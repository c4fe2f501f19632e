// Services on real processes: restart with backoff, failure after the limit, success codes,
// spawn failures as states, concurrent commands, and the exit records they leave.
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inheritedEnv, pidfdUnsupportedReason } from '../../native/index.js';
import { SupervisorError } from '../../daemon/errors.js';
import { DEFAULT_RESTART_POLICY } from '../../daemon/restart-policy.js';
import { ignoresSignal, pollUntil, procStat, procStatus, waitUntilAsleep } from '../helpers/proc.js';
import { createTestSupervisor, waitForState, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
let t: TestSupervisor;

beforeEach(() => {
  t = createTestSupervisor();
});
afterEach(() => t.close());

const alive = (pid: number): boolean => fs.existsSync(`/proc/${pid}`) && procStat(pid)[0] !== 'Z';
const spawnTimes = (name: string): number[] =>
  t.events.filter((e) => e.service.name === name && e.type === 'state' && (e.to === 'starting' || e.to === 'running') && e.from !== 'starting').map((e) => Date.parse(e.time));

describe.skipIf(unsupported !== null)(`service lifecycle${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('restarts a failing service with growing delays, then fails it after the limit', async () => {
    await t.supervisor.launch({
      name: 'flaky',
      command: ['sh', '-c', 'exit 3'],
      startGraceMs: 0,
      restart: { policy: 'on-failure', initialDelayMs: 100, multiplier: 2, jitter: 0, maxRestarts: 4, windowMs: 60_000 },
    });
    await waitForState(t.supervisor, 'flaky', 'failed', 15_000);
    const info = t.supervisor.get('flaky');
    expect(info.restarts).toBe(4);
    expect(info.reason).toMatch(/exited with code 3; restarted 4 times/);
    const times = spawnTimes('flaky');
    expect(times).toHaveLength(5);
    const gaps = times.slice(1).map((time, i) => time - times[i]!);
    // Observed delays grow: at least 100, 200, 400, 800 ms (each gap adds the run time of sh).
    [100, 200, 400, 800].forEach((delay, i) => expect(gaps[i]!).toBeGreaterThanOrEqual(delay - 5));
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThan(gaps[i - 1]!);
    expect(t.supervisor.service('flaky').exits.every((exit) => exit.code === 3 && exit.reason === 'exited')).toBe(true);

    // "failed until asked again": a start clears the tally and runs it again.
    await t.supervisor.start('flaky');
    expect(['running', 'backoff']).toContain(t.supervisor.get('flaky').state);
  });

  it('fails a crash loop under the default restart limits, after maxRestarts restarts', async () => {
    // Nothing but the policy is given: the delays, the limit and the window are the defaults.
    await t.supervisor.launch({ name: 'crashloop', command: ['sh', '-c', 'exit 1'], restart: { policy: 'always' } });
    await waitForState(t.supervisor, 'crashloop', 'failed', 20_000);
    const { maxRestarts, windowMs } = DEFAULT_RESTART_POLICY;
    expect(t.supervisor.get('crashloop')).toMatchObject({ restarts: maxRestarts, pid: null });
    expect(t.supervisor.get('crashloop').reason).toBe(`exited with code 1; restarted ${maxRestarts} times within ${windowMs} ms, giving up until started again`);
  });

  it('resets the backoff after an instance ran for resetAfterMs', async () => {
    await t.supervisor.launch({
      name: 'steady',
      command: ['sh', '-c', 'sleep 0.4; exit 1'],
      startGraceMs: 0,
      restart: { initialDelayMs: 50, multiplier: 10, jitter: 0, resetAfterMs: 300, maxRestarts: 100 },
    });
    await pollUntil(() => spawnTimes('steady').length >= 4, 10_000);
    const times = spawnTimes('steady');
    const gaps = times.slice(1).map((time, i) => time - times[i]!);
    // Each instance ran 400 ms >= resetAfterMs, so every delay is the initial 50 ms: gaps of
    // about 450 ms. Without the reset they would be 450, 900 and 5,400 ms.
    for (const gap of gaps.slice(0, 3)) expect(gap).toBeLessThan(800);
  });

  it('honours success codes and the no policy', async () => {
    await t.supervisor.launch({ name: 'ok3', command: ['sh', '-c', 'exit 3'], startGraceMs: 0, restart: { policy: 'on-failure', successCodes: [0, 3] } });
    await waitForState(t.supervisor, 'ok3', 'exited');
    expect(t.supervisor.get('ok3')).toMatchObject({ restarts: 0, exit: { code: 3, reason: 'exited' } });
    await t.supervisor.launch({ name: 'once', command: ['sh', '-c', 'exit 1'], startGraceMs: 0, restart: { policy: 'no' } });
    await waitForState(t.supervisor, 'once', 'exited');
    expect(t.supervisor.get('once').reason).toBe('exited with code 1');
    await t.supervisor.launch({ name: 'always', command: ['sh', '-c', 'exit 0'], startGraceMs: 0, restart: { policy: 'always', initialDelayMs: 10, jitter: 0 } });
    await pollUntil(() => t.supervisor.get('always').restarts >= 2, 5000);
  });

  it('is starting during the grace period, then running', async () => {
    await t.supervisor.launch({ name: 'graceful', command: ['sleep', '1000'], startGraceMs: 200 });
    expect(t.supervisor.get('graceful').state).toBe('starting');
    await waitForState(t.supervisor, 'graceful', 'running', 2000);
  });

  it('keeps a config service whose command is missing, backing off with the reason; an API launch leaves nothing', async () => {
    await expect(t.supervisor.launch({ name: 'ghost', command: ['/nonexistent/bin'] }, { origin: 'config' })).rejects.toMatchObject({ code: 'SPAWN_FAILED' });
    const ghost = t.supervisor.get('ghost');
    expect(ghost.state).toBe('backoff');
    expect(ghost.exit).toMatchObject({ reason: 'spawn-failed', error: { code: 'ENOENT', stage: 'execve' } });
    expect(ghost.reason).toMatch(/could not start.*ENOENT/);

    const before = t.supervisor.list().length;
    const error = await t.supervisor.launch({ name: 'ghost2', command: ['/nonexistent/bin'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SupervisorError);
    expect(error).toMatchObject({ code: 'SPAWN_FAILED', details: { errno: 'ENOENT', stage: 'execve' } });
    expect(t.supervisor.list()).toHaveLength(before);
    expect(() => t.supervisor.get('ghost2')).toThrow(/no service/);
  });

  it('lets concurrent restarts leave exactly one instance', async () => {
    const first = await t.supervisor.launch({ name: 'one', command: ['sleep', '1000'], startGraceMs: 0 });
    await Promise.all(Array.from({ length: 8 }, () => t.supervisor.restart('one')));
    const after = t.supervisor.get('one');
    expect(after.state).toBe('running');
    expect(after.restarts).toBe(1);
    expect(alive(after.pid!)).toBe(true);
    expect(alive(first.pid!)).toBe(false);
    // Exactly one `sleep 1000` of this service is a child of ours (its cmdline is readable once it sleeps).
    waitUntilAsleep(after.pid!);
    const ours = fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).filter((pid) => {
      try {
        return procStat(Number(pid))[1] === String(process.pid) && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\u00001000\u0000';
      } catch {
        return false;
      }
    });
    expect(ours, JSON.stringify({ after, cmdline: fs.readFileSync(`/proc/${after.pid}/cmdline`, 'utf8'), stat: procStat(after.pid!) })).toEqual([String(after.pid)]);
  });

  it('a stop or a removal during a restart wins: nothing is left running', async () => {
    const first = await t.supervisor.launch({ name: 'slow', command: ['sh', '-c', 'trap "sleep 0.3; exit 0" TERM; sleep 1000 & wait'], startGraceMs: 0 });
    await pollUntil(() => procStatus(first.pid!).get('SigCgt') !== '0000000000000000', 5000);
    const restarting = t.supervisor.restart('slow').then(() => 'restarted', (error: unknown) => error);
    const removed = await t.supervisor.remove('slow');
    // The restart that waited for the stop is dropped, and says so.
    expect(await restarting).toMatchObject({ code: 'SERVICE_NOT_FOUND' });
    expect(removed.state).toBe('removed');
    expect(t.supervisor.list()).toEqual([]);
    const leftovers = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((pid) => {
      try {
        return procStat(Number(pid))[1] === String(process.pid) && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sh\u0000-c\u0000trap');
      } catch {
        return false;
      }
    });
    expect(leftovers).toEqual([]);
  });

  it('rejects commands that make no sense, with the reason', async () => {
    const busy = await t.supervisor.launch({ name: 'busy', command: ['sh', '-c', 'trap "" TERM; sleep 1000 & wait'], startGraceMs: 0, stopTimeoutMs: 500 });
    await pollUntil(() => ignoresSignal(busy.pid!, 15), 5000);
    await expect(t.supervisor.start('busy')).rejects.toMatchObject({ code: 'ALREADY_RUNNING' });
    const stopping = t.supervisor.stop('busy');
    await expect(t.supervisor.start('busy')).rejects.toMatchObject({ code: 'STOPPING' });
    await stopping;
    expect(t.supervisor.get('busy').exit?.reason).toBe('killed');
    expect(() => t.supervisor.signal('busy', 'SIGTERM')).toThrow(expect.objectContaining({ code: 'NOT_RUNNING' }));
    await expect(t.supervisor.launch({ name: 'busy', command: ['true'] })).rejects.toMatchObject({ code: 'NAME_TAKEN' });
    await expect(t.supervisor.launch({ command: ['true'], bogus: 1 })).rejects.toMatchObject({ code: 'INVALID_SPEC' });
    await expect(t.supervisor.launch({ command: ['true'], user: 'no-such-user-here' })).rejects.toMatchObject({ code: 'UNKNOWN_USER' });
  });

  it('signals only the current instance when one is named', async () => {
    const info = await t.supervisor.launch({ name: 'target', command: ['sleep', '1000'], startGraceMs: 0, restart: { policy: 'no' } });
    expect(() => t.supervisor.signal('target', 'SIGTERM', { instance: `${info.pid}.0` })).toThrow(expect.objectContaining({ code: 'INSTANCE_MISMATCH' }));
    expect(alive(info.pid!)).toBe(true);
    const waited = t.supervisor.wait('target');
    expect(t.supervisor.signal('target', 'SIGTERM', { instance: info.instance! })).toMatchObject({ pid: info.pid, signal: 15 });
    expect(await waited).toMatchObject({ signal: 'SIGTERM', reason: 'exited', instance: info.instance });
    expect(t.supervisor.get('target').state).toBe('exited');
  });

  it('captures output through the service logs', async () => {
    await t.supervisor.launch({ name: 'talker', command: ['sh', '-c', 'echo out; echo err >&2'], startGraceMs: 0, restart: { policy: 'no' } });
    await waitForState(t.supervisor, 'talker', 'exited');
    const logs = t.supervisor.service('talker').logs!;
    await pollUntil(() => logs.tail().length === 2, 5000);
    expect(logs.tail().map((r) => [r.stream, r.data.toString()]).sort()).toEqual([['stderr', 'err'], ['stdout', 'out']]);
  });

  it("gives a service the daemon's environment plus its env, or only its env with clearEnv", async () => {
    const environmentOf = async (name: string, spec: object): Promise<Record<string, string>> => {
      await t.supervisor.launch({ name, command: ['/usr/bin/env', '-0'], startGraceMs: 0, restart: { policy: 'no' }, ...spec });
      await waitForState(t.supervisor, name, 'exited');
      const logs = t.supervisor.service(name).logs!;
      await logs.ended();
      const text = logs.tail({ stream: 'stdout' }).map((r) => r.data.toString()).join('\n');
      return Object.fromEntries(text.split('\0').filter(Boolean).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
    };
    expect(await environmentOf('inherits', {})).toEqual(inheritedEnv());
    expect(await environmentOf('adds', { env: { PIDVISOR_TEST_ADDED: 'yes', PATH: '/bin' } })).toEqual({ ...inheritedEnv(), PIDVISOR_TEST_ADDED: 'yes', PATH: '/bin' });
    expect(await environmentOf('clears', { clearEnv: true, env: { ONLY: 'this' } })).toEqual({ ONLY: 'this' });
  });
});
