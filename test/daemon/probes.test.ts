// Readiness and liveness probes on real processes: an instance is `starting` until its
// readiness probe passes; a liveness probe that fails restarts it under its restart policy;
// an exec check that hangs is killed whole at its timeout and counts as a failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { capabilities, pidfdUnsupportedReason, spawn } from '../../native/index.js';
import { SupervisorError } from '../../daemon/errors.js';
import { isRoot, isRunning, pollUntil } from '../helpers/proc.js';
import { createTestSupervisor, waitForState, type TestSupervisor } from '../helpers/supervisor.js';
import { freeLoopbackPort } from '../helpers/ports.js';

const unsupported = pidfdUnsupportedReason();
let t: TestSupervisor;
let dir: string;

beforeEach(() => {
  t = createTestSupervisor();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-probes-'));
});
afterEach(async () => {
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const node = process.execPath;
const eventsOf = (name: string, type: string) => t.events.filter((e) => e.service.name === name && e.type === type);

describe.skipIf(unsupported !== null)(`probes${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('keeps an instance starting until its tcp readiness probe connects', async () => {
    const port = await freeLoopbackPort();
    const flag = path.join(dir, 'listen-now');
    // Listens only once the test says so: until then every check is refused.
    const script = `const fs=require('fs');const t=setInterval(()=>{if(fs.existsSync(${JSON.stringify(flag)})){clearInterval(t);require('net').createServer(s=>s.end()).listen(${port},'127.0.0.1')}},20)`;
    const info = await t.supervisor.launch({ name: 'db', command: [node, '-e', script], startGraceMs: 0, readiness: { kind: 'tcp', port, periodMs: 50 } });
    expect(info.state).toBe('starting');
    await pollUntil(() => (t.supervisor.get('db').probes.readiness?.failures ?? 0) >= 2);
    expect(t.supervisor.get('db').state).toBe('starting');
    expect(t.supervisor.get('db').probes.readiness?.lastDetail).toMatch(/ECONNREFUSED/);
    fs.writeFileSync(flag, '');
    await waitForState(t.supervisor, 'db', 'running');
    const ready = eventsOf('db', 'ready');
    expect(ready).toHaveLength(1);
    expect(ready[0]!.reason).toMatch(/readiness tcp 127\.0\.0\.1:\d+ passed/);
    expect(t.supervisor.get('db').reason).toBe(ready[0]!.reason);
  });

  it('waitReady answers with the reason an instance never became ready', async () => {
    const port = await freeLoopbackPort();
    await t.supervisor.launch({
      name: 'never',
      command: ['sleep', '1000'],
      restart: { policy: 'no' },
      readiness: { kind: 'tcp', port, periodMs: 20, failureThreshold: 3 },
    });
    const outcome = await t.supervisor.service('never').waitReady();
    expect(outcome.ready).toBe(false);
    await waitForState(t.supervisor, 'never', 'exited');
    const exit = t.supervisor.get('never').exit!;
    expect(exit).toMatchObject({ reason: 'not-ready', signal: 'SIGTERM' });
    expect(exit.detail).toMatch(/never became ready: readiness tcp .* failed 3 times in a row/);
    expect(t.supervisor.get('never').reason).toMatch(/never became ready/);
  });

  it('becomes ready at the first captured line matching a logLine probe', async () => {
    await t.supervisor.launch({
      name: 'logger',
      command: ['sh', '-c', 'echo booting; sleep 0.2; echo "server listening on 8080"; exec sleep 1000'],
      readiness: { kind: 'logLine', pattern: 'listening on \\d+', periodMs: 60_000 },
    });
    // The period is a minute: only the line itself can make it ready this soon.
    const outcome = await t.supervisor.service('logger').waitReady();
    expect(outcome).toMatchObject({ ready: true });
    expect(outcome.reason).toMatch(/matched: server listening on 8080/);
  });

  it('refuses a probe with fields of another kind, or a logLine probe without captured output', async () => {
    const refused = async (spec: object): Promise<SupervisorError> => {
      try {
        await t.supervisor.launch({ command: ['true'], ...spec });
      } catch (error) {
        return error as SupervisorError;
      }
      throw new Error('accepted');
    };
    expect((await refused({ readiness: { kind: 'tcp', url: 'http://x/' } })).message).toMatch(/\/readiness\/url: is not a field of a tcp probe/);
    expect((await refused({ readiness: { kind: 'tcp' } })).message).toMatch(/\/readiness\/port: is required/);
    expect((await refused({ liveness: { kind: 'notify' } })).message).toMatch(/\/liveness\/kind: notify is a readiness probe only/);
    expect((await refused({ stdout: 'null', stderr: 'null', readiness: { kind: 'logLine', pattern: 'x' } })).message).toMatch(/\/readiness\/stream/);
    expect((await refused({ readiness: { kind: 'logLine', pattern: '(' } })).message).toMatch(/\/readiness\/pattern: Invalid regular expression/);
    expect(t.supervisor.list()).toHaveLength(0);
  });

  it('restarts an instance whose http liveness probe stops being answered', async () => {
    const port = await freeLoopbackPort();
    // Answers its first three requests, then accepts connections and never answers.
    const script = `let n=0;require('http').createServer((q,r)=>{if(++n<=3)r.end('ok')}).listen(${port},'127.0.0.1')`;
    await t.supervisor.launch({
      name: 'web',
      command: [node, '-e', script],
      readiness: { kind: 'http', url: `http://127.0.0.1:${port}/`, periodMs: 50 },
      liveness: { kind: 'http', url: `http://127.0.0.1:${port}/health`, periodMs: 100, timeoutMs: 200, failureThreshold: 2 },
      restart: { policy: 'on-failure', initialDelayMs: 0, jitter: 0 },
    });
    const first = t.supervisor.get('web');
    await pollUntil(() => t.supervisor.get('web').restarts >= 1, 15_000);
    const health = eventsOf('web', 'health');
    expect(health.map((e) => e.health).slice(0, 2)).toEqual(['healthy', 'unhealthy']);
    expect(health[1]!.reason).toMatch(/liveness http GET http:\/\/127\.0\.0\.1:\d+\/health failed 2 times in a row \(last: no answer within 200 ms\)/);
    const exit = t.supervisor.service('web').exits.find((e) => e.pid === first.pid)!;
    expect(exit).toMatchObject({ reason: 'unhealthy', signal: 'SIGTERM' });
    expect(exit.detail).toBe(health[1]!.reason);
    expect(isRunning(first.pid!)).toBe(false);
  });

  it('kills an exec check that hangs at its timeout, whole, and counts it as a failure', async () => {
    const pids = path.join(dir, 'pids');
    // Each check starts a background sleep and waits: only its timeout can end it.
    const check = `sleep 1000 & echo $! >> ${pids}; echo $$ >> ${pids}; wait`;
    await t.supervisor.launch({
      name: 'hung',
      command: ['sleep', '1000'],
      startGraceMs: 0,
      liveness: { kind: 'exec', command: ['sh', '-c', check], periodMs: 50, timeoutMs: 300, failureThreshold: 2 },
      restart: { policy: 'no' },
    });
    await waitForState(t.supervisor, 'hung', 'exited', 15_000);
    const exit = t.supervisor.get('hung').exit!;
    expect(exit.reason).toBe('unhealthy');
    expect(exit.detail).toMatch(/liveness exec .* failed 2 times in a row \(last: timed out after 300 ms; its processes were killed\)/);
    const started = fs.readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    expect(started.length).toBeGreaterThanOrEqual(4); // two checks, each a shell and a sleep
    await pollUntil(() => started.every((pid) => !isRunning(pid)));
  });

  // A frozen cgroup v2 holds a clone for real: a child cloned into it freezes before its first
  // instruction, and its CLONE_VFORK parent thread stays suspended until the thaw. Probe
  // cgroups live under the supervisor's root, so freezing the root holds every check's clone.
  it.skipIf(capabilities().cgroup2Mount === null || !isRoot())('runs exec checks off the event loop: timers fire while 20 checks are held before exec (needs root and cgroup2)', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `held-${i}`);
    for (const name of names) {
      await t.supervisor.launch({
        name,
        command: ['sleep', '1000'],
        startGraceMs: 0,
        liveness: { kind: 'exec', command: ['true'], periodMs: 50, timeoutMs: 120_000, failureThreshold: 1000 },
      });
    }
    const passed = (name: string): number => t.supervisor.get(name).probes.liveness?.successes ?? 0;
    await pollUntil(() => names.every((name) => passed(name) >= 1), 30_000);
    const root = t.supervisor.system().cgroupRoot!;
    const freeze = path.join(root, 'cgroup.freeze');
    // Should the clones run on this thread (the bug this rules out), the first held one would
    // suspend it for good: another process thaws the root after a while, so the test fails
    // instead of hanging.
    const thawer = spawn({ command: 'sh', args: ['-c', `sleep 60; echo 0 > ${freeze}`], detach: 'session', stdio: ['null', 'null', 'null'] });
    const heldChecks = (): number =>
      fs.readdirSync(root).filter((entry) => entry.startsWith('probe.'))
        .reduce((n, entry) => n + fs.readFileSync(path.join(root, entry, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).length, 0);
    try {
      fs.writeFileSync(freeze, '1');
      // pollUntil runs on timers; two checks held at once cannot both be on this thread.
      const frozen = (): boolean => /^frozen 1$/m.test(fs.readFileSync(path.join(root, 'cgroup.events'), 'utf8'));
      await pollUntil(() => heldChecks() >= 2 && frozen(), 30_000);
      // A check that ended just before the freeze took hold is still delivered to the loop:
      // the counts are taken once two reads 50 ms apart agree.
      let before = names.map(passed);
      await pollUntil(() => {
        const now = names.map(passed);
        const settled = now.every((count, i) => count === before[i]);
        before = now;
        return settled;
      }, 30_000, 50);
      const seen = await new Promise<{ held: number; passed: number[] }>((resolve) => setTimeout(() => resolve({ held: heldChecks(), passed: names.map(passed) }), 0));
      expect(seen.held).toBeGreaterThanOrEqual(2); // the timer fired while the checks were still held
      expect(seen.passed).toEqual(before);
      fs.writeFileSync(freeze, '0');
      await pollUntil(() => names.every((name, i) => passed(name) > before[i]!), 30_000);
      expect(names.map((name) => t.supervisor.get(name).probes.liveness?.failures)).toEqual(names.map(() => 0));
    } finally {
      fs.writeFileSync(freeze, '0');
      if (thawer.exitStatus === undefined) thawer.signal('SIGKILL', { processGroup: true }); // its sleep too
      await thawer.wait();
    }
  }, 120_000);

  it.skipIf(capabilities().cgroup2Mount === null || !isRoot())('kills an exec check whose timeout passed while its clone was held, as soon as it arrives (needs root and cgroup2)', async () => {
    await t.supervisor.launch({
      name: 'late',
      command: ['sleep', '1000'],
      startGraceMs: 0,
      // Each check would sleep for good: only a kill ends it.
      liveness: { kind: 'exec', command: ['sh', '-c', 'test -e go || exec sleep 1000'], periodMs: 50, timeoutMs: 300, failureThreshold: 1 },
      cwd: dir,
      restart: { policy: 'no' },
    });
    fs.writeFileSync(path.join(dir, 'go'), '');
    await pollUntil(() => (t.supervisor.get('late').probes.liveness?.successes ?? 0) >= 1, 30_000);
    const root = t.supervisor.system().cgroupRoot!;
    const freeze = path.join(root, 'cgroup.freeze');
    const thawer = spawn({ command: 'sh', args: ['-c', `sleep 60; echo 0 > ${freeze}`], detach: 'session', stdio: ['null', 'null', 'null'] });
    const held = (): boolean =>
      fs.readdirSync(root).some((entry) => entry.startsWith('probe.') && fs.readFileSync(path.join(root, entry, 'cgroup.procs'), 'utf8').trim() !== '');
    try {
      fs.rmSync(path.join(dir, 'go'));
      fs.writeFileSync(freeze, '1');
      await pollUntil(held, 30_000);
      // The check armed its 300 ms timeout before its clone: a 300 ms timer armed now is due
      // later, and Node fires timers in due order, so by then the check's has fired, with no
      // child to kill yet.
      await new Promise((resolve) => setTimeout(resolve, 300));
      fs.writeFileSync(freeze, '0');
      await waitForState(t.supervisor, 'late', 'exited', 30_000);
      expect(t.supervisor.get('late').exit!.detail).toMatch(/failed 1 times in a row \(last: timed out after 300 ms; its processes were killed\)/);
      await pollUntil(() => !fs.readdirSync(root).some((entry) => entry.startsWith('probe.')), 10_000);
    } finally {
      fs.writeFileSync(freeze, '0');
      if (thawer.exitStatus === undefined) thawer.signal('SIGKILL', { processGroup: true }); // its sleep too
      await thawer.wait();
    }
  }, 120_000);

  it('counts a failing exec check with its output, and passes on exit code 0', async () => {
    const marker = path.join(dir, 'healthy');
    await t.supervisor.launch({
      name: 'checked',
      command: ['sleep', '1000'],
      startGraceMs: 0,
      liveness: { kind: 'exec', command: ['sh', '-c', `test -e ${marker} || { echo "no marker"; exit 4; }`], periodMs: 30, failureThreshold: 1000 },
    });
    await pollUntil(() => (t.supervisor.get('checked').probes.liveness?.failures ?? 0) >= 1);
    expect(t.supervisor.get('checked').probes.liveness?.lastDetail).toBe('exited with code 4: no marker');
    expect(t.supervisor.get('checked').health).toBe('unknown');
    fs.writeFileSync(marker, '');
    await pollUntil(() => t.supervisor.get('checked').health === 'healthy');
  });

  // Group mode pins the check's main process as a zombie to kill its group (beforeReap);
  // cgroup mode kills the check's cgroup after the reap. Either way a passing check leaves
  // nothing running.
  for (const mode of ['group', 'cgroup'] as const) {
    it.skipIf(mode === 'cgroup' && (capabilities().cgroup2Mount === null || !isRoot()))(`kills what a passing exec check left running (${mode} mode)`, async () => {
      const own = mode === 'group' ? createTestSupervisor({ cgroupMount: null }) : t;
      try {
        const pids = path.join(dir, 'left');
        await own.supervisor.launch({
          name: 'leaves',
          command: ['sleep', '1000'],
          startGraceMs: 0,
          readiness: { kind: 'exec', command: ['sh', '-c', `sleep 1000 & echo $! > ${pids}; exit 0`], periodMs: 50 },
        });
        await waitForState(own.supervisor, 'leaves', 'running');
        const left = Number(fs.readFileSync(pids, 'utf8').trim());
        expect(left).toBeGreaterThan(0);
        await pollUntil(() => !isRunning(left));
      } finally {
        if (own !== t) await own.close();
      }
    });
  }
});
