// What the real `pidvisor daemon` loads while it serves the API: never TypeBox. The API's
// schemas are defined with TypeBox at build time and loaded as plain JSON Schema objects
// (api/server/schemas.generated.ts, tools/generate-schemas.ts); TypeBox at run time cost the
// daemon ~1.4 MiB of heap and 1.5 to 2.8 MiB of RssAnon (issue 14: RSS with 200 services). The
// files are listed by bench/init's preload (module hooks for ES modules, require.cache at exit
// for CommonJS), and a chunk of the CLI bundle the daemon runs from stands for the modules it
// holds (dist/cli-bundle/inputs.json), as in init-imports.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { capabilities, pidfdUnsupportedReason } from '../../native/index.js';
import { request, startDaemonProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { pollUntilAsync } from '../helpers/proc.js';

const unsupported = pidfdUnsupportedReason();
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PRELOAD = path.join(root, 'dist/bench/init/imports/preload.js');
const BUNDLE = path.join(root, 'dist/cli-bundle');
const cgroupName = `pidvisor-test-daemon-imports-${process.pid}`;
const cgroupDir = path.join(capabilities().cgroup2Mount ?? '/nonexistent', cgroupName);
const SLEEPER = { command: ['/bin/sleep', '60'], killMode: 'process', stopTimeoutMs: 2000 };

let dir = '';
let daemon: DaemonProcess | undefined;

afterEach(async () => {
  if (daemon !== undefined) await daemon.stop('SIGKILL');
  daemon = undefined;
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(cgroupDir, { recursive: true, force: true });
});

describe.skipIf(unsupported !== null)('the daemon serving the API', () => {
  it('validates, launches, documents and reloads without loading TypeBox', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pidvisor-daemon-imports-'));
    const socket = path.join(dir, 'api.sock');
    const log = path.join(dir, 'modules.log');
    const config = path.join(dir, 'services.yaml');
    fs.writeFileSync(config, 'services:\n  from-config:\n    command: [/bin/sleep, "60"]\n    killMode: process\n    stopTimeoutMs: 2000\n');
    daemon = startDaemonProcess(['--socket', socket, '--state-dir', path.join(dir, 'state'), '--cgroup-name', cgroupName, '--config', config], {
      nodeArgs: ['--import', PRELOAD],
      env: { PIDVISOR_KEEPER: 'off', BENCH_INIT_MODULE_LOG: log },
    });
    await pollUntilAsync(async () => (await request(socket, 'GET', '/healthz')).status === 200, 20_000, 'the daemon to answer on its socket');

    expect((await request(socket, 'POST', '/v1/processes', { name: 'one', ...SLEEPER })).status).toBe(201);
    const refused = await request<{ code: string }>(socket, 'POST', '/v1/processes', { command: [], restart: { policy: 'sometimes' } });
    expect(refused).toMatchObject({ status: 400, body: { code: 'PIDVISOR_ERR_VALIDATION' } });
    expect((await request(socket, 'POST', '/v1/processes/batch', { processes: [SLEEPER, SLEEPER] })).status).toBe(201);
    const document = await request<{ components: { schemas: Record<string, unknown> } }>(socket, 'GET', '/openapi.json');
    expect(document.status).toBe(200);
    expect(Object.keys(document.body.components.schemas)).toContain('ServiceSpec');
    expect((await request(socket, 'POST', '/v1/config/reload')).status).toBe(200);
    expect(await daemon.stop('SIGTERM')).toBe(0);

    const modules = modulesLoaded(log);
    // The log works: it lists the server and the web framework.
    expect(modules.some((line) => line.endsWith('/dist/api/server/app.js'))).toBe(true);
    expect(modules.some((line) => line.includes('/node_modules/fastify/'))).toBe(true);
    expect(modules.filter((line) => line.includes('/node_modules/@sinclair/typebox/'))).toEqual([]);
  });
});

/** The files of the log, each chunk of the bundle replaced by the modules it holds (absolute paths). */
function modulesLoaded(log: string): string[] {
  const chunkInputs = JSON.parse(fs.readFileSync(path.join(BUNDLE, 'inputs.json'), 'utf8')) as Record<string, string[]>;
  return fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .flatMap((line) => {
      const file = line.replace(/^(esm|cjs) /, '').replace(/^file:\/\//, '');
      const inputs = path.dirname(file) === BUNDLE ? chunkInputs[path.basename(file)] : undefined;
      return inputs === undefined ? [line] : inputs.map((input) => path.join(root, input));
    });
}
