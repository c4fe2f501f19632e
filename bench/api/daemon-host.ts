// The daemon as `pidvisor daemon` runs it (api/cli/commands/daemon.ts: the same
// startDaemon, logger, audit file and listeners), with one difference: the API's per-caller
// rate limit (burst 1000, 500 requests/s), which the CLI does not let one change, is off. The
// request-rate runs need that, or they would measure the limiter. Run by the bench as its own
// process: node dist/bench/api/daemon-host.js --socket PATH --state-dir DIR
//   [--listen 127.0.0.1:PORT --token-file FILE] [--cgroup-name NAME] [--without audit|validation]...
// `--without` takes one cost out, for bench/launch to say what each costs: `audit` writes no
// audit trail; `validation` compiles every request schema to a check that passes anything
// (what ajv costs per request). Neither is a setting of the real daemon.
// The heap is set up as the CLI does for a resident command (api/cli/main.ts), before the
// daemon's modules load, and start-up garbage is collected as `pidvisor daemon` does: without
// that, the 10,000-service RSS measured here was not what the daemon holds (198 MiB against 149).
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { TcpOptions } from '../../api/server/index.js';
import { collectGarbageWhenIdle, collectStartupGarbage, favourSmallHeap, interpretJavaScriptOnly, keepYoungGenerationSmall } from '../../daemon/heap.js';

keepYoungGenerationSmall();
interpretJavaScriptOnly();
favourSmallHeap();
const { buildApp, listen } = await import('../../api/server/index.js');
const { shutdownOnSignal, startDaemon } = await import('../../daemon/daemon.js');
const { createLogger } = await import('../../daemon/logger.js');

const { values } = parseArgs({
  options: {
    socket: { type: 'string' },
    'state-dir': { type: 'string' },
    listen: { type: 'string' },
    'token-file': { type: 'string' },
    'cgroup-name': { type: 'string' },
    without: { type: 'string', multiple: true },
  },
  strict: true,
});
if (values.socket === undefined || values['state-dir'] === undefined) throw new Error('daemon-host needs --socket and --state-dir');
const stateDir = values['state-dir'];
const socketPath = values.socket;
let tcp: TcpOptions | undefined;
if (values.listen !== undefined) {
  const match = /^([^:]+):(\d+)$/.exec(values.listen);
  if (match === null || values['token-file'] === undefined) throw new Error('--listen takes HOST:PORT and needs --token-file');
  tcp = { host: match[1]!, port: Number(match[2]), tokenFile: values['token-file'] };
}

const without = new Set(values.without ?? []);
for (const cost of without) if (cost !== 'audit' && cost !== 'validation') throw new Error(`--without: unknown ${JSON.stringify(cost)} (audit, validation)`);

const logger = createLogger();
const daemon = await startDaemon({
  stateDir,
  logger,
  ...(values['cgroup-name'] === undefined ? {} : { cgroupName: values['cgroup-name'] }),
  serve: async (supervisor) => {
    const app = buildApp(supervisor, { logger, audit: without.has('audit') ? false : { file: path.join(stateDir, 'audit.log') }, rateLimit: false });
    // Routes are registered when the app loads (listen), so they all get this compiler.
    if (without.has('validation')) app.setValidatorCompiler(() => () => true);
    return listen(app, { socketPath, ...(tcp === undefined ? {} : { tcp }) });
  },
});

collectStartupGarbage();
collectGarbageWhenIdle();
process.exitCode = await shutdownOnSignal(daemon);
