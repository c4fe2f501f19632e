// The real `pidvisor daemon` (compiled, in dist/) as a child process of the test, with its
// JSON log parsed as it arrives.
import { spawn as spawnWithLibuv, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pollUntil } from './proc.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PIDVISOR_BIN = path.join(root, 'dist/bin/pidvisor.js');

export interface DaemonProcess {
  process: ChildProcess;
  logs: Array<Record<string, unknown>>;
  /** Waits for a log record matching `predicate`. */
  waitForLog(predicate: (record: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or the signal) once the daemon has exited. */
  exited: Promise<number | string>;
  /** Sends `signal` and resolves with the exit code (or the signal). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  /**
   * The pid of the Node daemon, the parent of the services: the process started here is
   * pidvisor-keeper (the CLI execs into it), whose child the daemon is; without a keeper
   * (PIDVISOR_KEEPER=off) the process itself. 0 while the keeper has not started it yet.
   */
  supervisorPid(): number;
}

/** `nodeArgs` go to node itself, before the script (--inspect-port=0, --import ...). */
/** `env`: added to the test's environment (PIDVISOR_KEEPER: 'off' runs the daemon without the keeper). */
export function startDaemonProcess(args: string[], options: { nodeArgs?: string[]; env?: Record<string, string> } = {}): DaemonProcess {
  const child = spawnWithLibuv(process.execPath, [...(options.nodeArgs ?? []), PIDVISOR_BIN, 'daemon', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
  });
  const logs: Array<Record<string, unknown>> = [];
  let pending = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line, unparsed: true });
      }
    }
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    process: child,
    logs,
    exited,
    async waitForLog(predicate, timeoutMs = 10_000) {
      await pollUntil(() => logs.some(predicate), timeoutMs);
      return logs.find(predicate)!;
    },
    supervisorPid() {
      const pid = child.pid!;
      let executable = '';
      try {
        executable = fs.readlinkSync(`/proc/${pid}/exe`);
      } catch {
        return 0;
      }
      if (!executable.endsWith('/pidvisor-keeper')) return pid;
      // Services the keeper took over after a daemon died are its children too: the daemon is
      // the one running pidvisor.js.
      const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean);
      const daemon = children.find((child) => {
        try {
          return fs.readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').includes(PIDVISOR_BIN);
        } catch {
          return false;
        }
      });
      return daemon === undefined ? 0 : Number(daemon);
    },
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** One HTTP request to a daemon's unix socket: the status and the body as text. */
export function requestText(socketPath: string, method: string, url: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = http.request(
      { socketPath, method, path: url, agent: false, timeout: 20_000, headers: payload === undefined ? {} : { 'content-type': 'application/json' } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    request.on('timeout', () => request.destroy(new Error(`${method} ${url}: no answer within 20 s`)));
    request.on('error', reject);
    request.end(payload);
  });
}

/** One HTTP request to a daemon's unix socket: the status and the parsed JSON body. */
export async function requestJson(socketPath: string, method: string, url: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const { status, text } = await requestText(socketPath, method, url, body);
  return { status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}
