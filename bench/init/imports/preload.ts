// `node --import preload.js ...`: with BENCH_INIT_MODULE_LOG set, registers hooks.js (ESM
// modules, as they load) and appends every CommonJS module in require.cache at exit, and every
// builtin module Node has loaded ("builtin http": process.moduleLoadList; the hooks see a
// builtin only the first time the ESM loader imports it, not what CommonJS or Node loads).
import fs from 'node:fs';
import { createRequire, register } from 'node:module';

const logFile = process.env.BENCH_INIT_MODULE_LOG;
if (logFile !== undefined && logFile !== '') {
  register('./hooks.js', import.meta.url, { data: { logFile } });
  const require = createRequire(import.meta.url);
  process.on('exit', () => {
    fs.appendFileSync(logFile, Object.keys(require.cache).map((file) => `cjs ${file}\n`).join(''));
    const builtins = (process as unknown as { moduleLoadList: string[] }).moduleLoadList.filter((entry) => entry.startsWith('NativeModule '));
    fs.appendFileSync(logFile, builtins.map((entry) => `builtin ${entry.slice('NativeModule '.length)}\n`).join(''));
  });
}
