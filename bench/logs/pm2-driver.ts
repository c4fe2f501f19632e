// PM2's side of the log-capture bench, in a process of its own (PM2's client keeps sockets and
// timers). Uses the pm2 devDependency, with PM2_HOME set by the bench to a temp dir.
//   node dist/bench/logs/pm2-driver.js start NAME OUT_FILE PROGRAM ARGS...
//       connects (God is started on first use), prints "T0 <CLOCK_MONOTONIC ns>" just before
//       the start call, starts PROGRAM (interpreter none, no restart, stdout to OUT_FILE,
//       no timestamps: PM2's default), disconnects. God keeps capturing after we leave.
//   node dist/bench/logs/pm2-driver.js kill
import { createRequire } from 'node:module';

type Callback<T> = (error: Error | null, value: T) => void;
interface Pm2 {
  connect(callback: Callback<unknown>): void;
  start(config: object, callback: Callback<unknown>): void;
  killDaemon(callback: Callback<unknown>): void;
  disconnect(): void;
}

const promisify = <T>(fn: (callback: Callback<T>) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((error, value) => (error === null || error === undefined ? resolve(value) : reject(error instanceof Error ? error : new Error(JSON.stringify(error))))));

const pm2 = createRequire(import.meta.url)('pm2') as Pm2;
const [command, name, outFile, script, ...args] = process.argv.slice(2);
if (process.env.PM2_HOME === undefined) throw new Error('pm2-driver needs PM2_HOME');
await promisify((cb) => pm2.connect(cb));
try {
  if (command === 'start' && name !== undefined && script !== undefined && outFile !== undefined) {
    const app = { name, script, args, interpreter: 'none', exec_mode: 'fork', autorestart: false, out_file: outFile, error_file: '/dev/null' };
    // process.hrtime is CLOCK_MONOTONIC: the bench compares it with its own.
    process.stdout.write(`T0 ${process.hrtime.bigint()}\n`);
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
