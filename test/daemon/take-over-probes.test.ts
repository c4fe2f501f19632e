// Readiness survives a daemon crash: an instance the dead daemon left `starting` is probed
// again by the next one (tcp), or still heard at READY=1 (sd_notify: the socket is bound again
// at the same path, which the instance's NOTIFY_SOCKET names); it stays `starting` until then.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pollUntilAsync } from '../helpers/proc.js';
import { freeLoopbackPort } from '../helpers/ports.js';
import { keeperlessDaemons, takeOverSkipReason } from '../helpers/take-over.js';

const reason = takeOverSkipReason();
const cgroupName = `pidvisor-test-takeover-probes-${process.pid}`;
// Each test starts two or three daemons (node, fastify): seconds each when the machine is busy.
const DAEMONS_TEST_TIMEOUT_MS = 120_000;
const { makeDir, start, sigkill, list, launch } = keeperlessDaemons(cgroupName, { skipped: reason !== null });

describe.skipIf(reason !== null)(`readiness across a take-over${reason === null ? '' : ` (skipped: ${reason})`}`, () => {
  it('keeps probing a starting instance, and hears READY=1 on the re-bound notify socket', async () => {
    const dir = makeDir('pidvisor-takeover-probes-');
    const port = await freeLoopbackPort();
    const listenNow = path.join(dir, 'listen-now');
    const readyNow = path.join(dir, 'ready-now');
    const first = await start([]);
    const listener = `const fs=require('fs');const t=setInterval(()=>{if(fs.existsSync(${JSON.stringify(listenNow)})){clearInterval(t);require('net').createServer(s=>s.end()).listen(${port},'127.0.0.1')}},20)`;
    const db = await launch(first.socket, { name: 'db', command: [process.execPath, '-e', listener], readiness: { kind: 'tcp', port, periodMs: 50 } });
    const svc = await launch(first.socket, {
      name: 'svc',
      command: ['sh', '-c', `while [ ! -e ${readyNow} ]; do sleep 0.02; done; systemd-notify --ready --status=up; exec sleep 1000`],
      notify: true,
    });
    expect([db.state, svc.state]).toEqual(['starting', 'starting']);
    await sigkill(first.daemon);

    const second = await start([]);
    const taken = await list(second.socket);
    expect(taken.get('db')).toMatchObject({ state: 'starting', pid: db.pid, instance: db.instance });
    expect(taken.get('svc')).toMatchObject({ state: 'starting', pid: svc.pid, instance: svc.instance });
    fs.writeFileSync(listenNow, '');
    fs.writeFileSync(readyNow, '');
    await pollUntilAsync(async () => (await list(second.socket)).get('db')?.state === 'running', 20_000);
    await pollUntilAsync(async () => (await list(second.socket)).get('svc')?.state === 'running', 20_000);
    const now = await list(second.socket);
    expect(now.get('db')).toMatchObject({ pid: db.pid, restarts: 0 });
    expect(now.get('svc')).toMatchObject({ pid: svc.pid, restarts: 0 });
  }, DAEMONS_TEST_TIMEOUT_MS);
});
