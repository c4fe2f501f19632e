// Module customization hooks (they run on Node's loader thread) for the module inventory:
// every module the ESM loader loads is appended to the log file as "esm <url>". Modules that
// CommonJS code require()s bypass these hooks on Node 20; preload.ts lists those at exit.
import fs from 'node:fs';

let logFile: string | undefined;

export function initialize(data: { logFile: string }): void {
  logFile = data.logFile;
}

export async function load(url: string, context: object, nextLoad: (url: string, context: object) => Promise<object>): Promise<object> {
  if (logFile !== undefined) fs.appendFileSync(logFile, `esm ${url}\n`);
  return nextLoad(url, context);
}
