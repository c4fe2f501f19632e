// Starts the baseline server (bare-server.ts) in its own process, on its own socket and port.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { firstLine, startProcess, stopProcess, type Started } from './children.js';
import { entry, outDir } from './paths.js';
import { waitForSocket } from './proc.js';

export interface BareHandle {
  process: Started;
  pid: number;
  socketPath: string;
  port: number;
  stop(): Promise<void>;
}

export async function startBare(): Promise<BareHandle> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvb-bare-'));
  const socketPath = path.join(dir, 'bare.sock');
  fs.mkdirSync(outDir, { recursive: true });
  const started = startProcess('bare fastify server', process.execPath, [entry.bareServer, socketPath], {
    logFile: path.join(outDir, 'bare-server.log'),
    pipeStdout: true,
  });
  try {
    const line = await firstLine(started, 30_000);
    const match = /^ready (\d+)$/.exec(line);
    if (match === null) throw new Error(`bare server said ${JSON.stringify(line)}`);
    await waitForSocket(socketPath, 5000, () => started.deadReason());
    return {
      process: started,
      pid: started.pid,
      socketPath,
      port: Number(match[1]),
      async stop() {
        await stopProcess(started, 5000);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopProcess(started, 5000);
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
