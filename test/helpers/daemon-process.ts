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

/** What a daemon answered: the status, the Content-Type and the body as text. */
interface Answer {
  status: number;
  contentType: string;
  text: string;
}

// A fresh connection per request (no keep-alive agent): a pooled socket to a daemon that was
// SIGKILLed meanwhile would fail the next request for a reason the test is not about.
function send(socketPath: string, method: string, url: string, body: unknown, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = http.request(
      { socketPath, method, path: url, agent: false, timeout: timeoutMs, headers: payload === undefined ? {} : { 'content-type': 'application/json' } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'] ?? '', text }));
      },
    );
    // A daemon that stops answering fails the test with a message, not a test timeout.
    request.on('timeout', () => request.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs / 1000} s`)));
    request.on('error', reject);
    request.end(payload);
  });
}

/** One HTTP request to a daemon's unix socket: the status and the body as text. */
export async function requestText(socketPath: string, method: string, url: string, body?: unknown): Promise<{ status: number; text: string }> {
  const { status, text } = await send(socketPath, method, url, body, 20_000);
  return { status, text };
}

/** One HTTP request to a daemon's unix socket: the status and the parsed JSON body. */
export async function requestJson(socketPath: string, method: string, url: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const { status, text } = await requestText(socketPath, method, url, body);
  return { status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/**
 * One HTTP request to a daemon's unix socket, its body decoded as its Content-Type says: JSON
 * (problem+json included) parsed, anything else (logs as text, /metrics) as the text. For a
 * daemon that may be busy taking over hundreds of services: 30 s before it counts as silent.
 */
export async function request<T>(socketPath: string, method: string, url: string, body?: unknown, timeoutMs = 30_000): Promise<{ status: number; body: T }> {
  const { status, contentType, text } = await send(socketPath, method, url, body, timeoutMs);
  return { status, body: (contentType.includes('json') ? JSON.parse(text) : text) as T };
}
