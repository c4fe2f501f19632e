// Over TCP every local client comes from 127.0.0.1: limits keyed by that address alone let a
// caller without the token spend the budget of the caller with it. Here, on a real TCP
// listener: clients with a bad token do not push the token holder into 429, and
// connections that never finish their headers, held by another uid, do not lock it out.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfdUnsupportedReason } from '../../native/index.js';
import { buildApp, listen, type AppOptions, type ListenHandle, type ListenOptions } from '../../api/server/index.js';
import { createTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const unsupported = pidfdUnsupportedReason();
const TOKEN = 'a-test-token-0123456789abcdef';

let t: TestSupervisor;
let dir: string;
let handle: ListenHandle | null;

beforeEach(() => {
  t = createTestSupervisor();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-tcp-'));
  handle = null;
});
afterEach(async () => {
  await handle?.close();
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function serve(listenOptions: Partial<ListenOptions> = {}, appOptions: AppOptions = {}): Promise<number> {
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
  const app = buildApp(t.supervisor, appOptions);
  handle = await listen(app, { socketPath: path.join(dir, 'run', 'api.sock'), tcp: { port: 0, tokenFile }, ...listenOptions });
  return handle.tcp!.port;
}

/** GET `path` on a keep-alive agent; resolves with the status (0 when the connection failed). */
function get(port: number, agent: http.Agent, token: string | null, urlPath = '/v1/processes'): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: urlPath, agent, headers: token === null ? {} : { authorization: `Bearer ${token}` } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', () => resolve(0));
  });
}

function tally(statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

describe.skipIf(unsupported !== null)('TCP limits per caller', () => {
  it('clients with a bad token do not push the token holder into 429; their failures are limited apart', async () => {
    // A small budget, so that the bad clients alone could spend it many times over.
    const port = await serve({}, { rateLimit: { burst: 40, perSecond: 1 }, authFailureLimit: { burst: 10, perSecond: 1 } });
    const attackers = Array.from({ length: 4 }, async (_, n) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const statuses: number[] = [];
      for (let i = 0; i < 100; i++) statuses.push(await get(port, agent, n % 2 === 0 ? null : `${TOKEN}-wrong`));
      agent.destroy();
      return statuses;
    });
    // The holder starts once the attackers have had the time to spend any shared budget.
    const attackerStatuses = (await Promise.all(attackers)).flat();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const holder: number[] = [];
    const concurrent = Array.from({ length: 2 }, async () => {
      const other = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < 50; i++) await get(port, other, null);
      other.destroy();
    });
    for (let i = 0; i < 30; i++) holder.push(await get(port, agent, TOKEN));
    await Promise.all(concurrent);
    agent.destroy();
    const attackerTally = tally(attackerStatuses);
    expect(tally(holder)).toEqual({ 200: 30 });
    expect(attackerTally[401]).toBeGreaterThanOrEqual(10);
    expect(attackerTally[429]).toBeGreaterThan(300); // the failures' own budget ran out
  });
});
