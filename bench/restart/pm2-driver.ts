// PM2's side of the restart bench, in a process of its own (PM2's client keeps sockets and
// timers): starts one app, the static stamp program, with autorestart, restart_delay 0 and
// no restart limit, then disconnects and leaves it to PM2's God daemon; or kills God.
//   node dist/bench/restart/pm2-driver.js start PROGRAM CWD
//   node dist/bench/restart/pm2-driver.js kill
import { createRequire } from 'node:module';
import path from 'node:path';
import { peersDir } from '../api/paths.js';

type Callback<T> = (error: Error | null, value: T) => void;
interface Pm2 {
  connect(callback: Callback<unknown>): void;
  start(config: object, callback: Callback<unknown>): void;
  killDaemon(callback: Callback<unknown>): void;
  disconnect(): void;
}

const promisify = <T>(fn: (callback: Callback<T>) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((error, value) => (error === null || error === undefined ? resolve(value) : reject(error instanceof Error ? error : new Error(JSON.stringify(error))))));

const pm2 = createRequire(path.join(peersDir, 'package.json'))('pm2') as Pm2;
const [command, program, cwd] = process.argv.slice(2);
if (process.env.PM2_HOME === undefined) throw new Error('pm2-driver needs PM2_HOME');
await promisify((cb) => pm2.connect(cb));
try {
  if (command === 'start' && program !== undefined && cwd !== undefined) {
    const app = {
      name: 'stamp',
      script: program,
      cwd,
      interpreter: 'none',
      exec_mode: 'fork',
      autorestart: true,
      restart_delay: 0,
      // PM2 counts a restart as unstable under min_uptime (1 s by default) and stops after
      // max_restarts of those; the bench kills after 1.2 s, but lift the limit anyway.
      max_restarts: 1_000_000,
      out_file: '/dev/null',
      error_file: '/dev/null',
    };
    await promisify((cb) => pm2.start({ apps: [app] }, cb));
  } else if (command === 'kill') {
    await promisify((cb) => pm2.killDaemon(cb));
  } else {
    throw new Error(`pm2-driver: unknown command ${command}`);
  }
} finally {
  pm2.disconnect();
}
process.exit(0);
