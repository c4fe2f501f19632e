// `node --import preload.js ...`: with BENCH_INIT_MODULE_LOG set, registers hooks.js (ESM
// modules, as they load) and appends every CommonJS module in require.cache at exit.
import fs from 'node:fs';
import { createRequire, register } from 'node:module';

const logFile = process.env.BENCH_INIT_MODULE_LOG;
if (logFile !== undefined && logFile !== '') {
  register('./hooks.js', import.meta.url, { data: { logFile } });
  const require = createRequire(import.meta.url);
  process.on('exit', () => {
    fs.appendFileSync(logFile, Object.keys(require.cache).map((file) => `cjs ${file}\n`).join(''));
  });
}
