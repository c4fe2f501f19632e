// pidvisor-keeper as a child of the test, with the stand-in daemon of
// test/fixtures/keeper-daemon.mjs (or a real command line), its events and the keeper's log
// parsed as they arrive.
import { spawn as spawnWithLibuv, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRunning, pollUntil } from './proc.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const KEEPER_BIN = path.join(root, 'build/Release/pidvisor-keeper');
/** The container entry point: `pidvisor-keeper init` native from its first instruction. */
export const INIT_BIN = path.join(root, 'build/Release/pidvisor-init');
export const KEEPER_FIXTURE = path.join(root, 'test/fixtures/keeper-daemon.mjs');

export type Event = Record<string, unknown> & { event: string };

export interface KeeperUnderTest {
  process: ChildProcess;
  events: Event[];
  /** The keeper's own log lines (JSON), and any other stderr line as { msg, unparsed }. */
  logs: Array<Record<string, unknown>>;
  send(command: Record<string, unknown>): void;
  /** The first event at or after index `from` that matches. */
  waitFor(predicate: (event: Event) => boolean, from?: number, timeoutMs?: number): Promise<Event>;
  waitForLog(predicate: (record: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | string>;
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const all = pending.split('\n');
    pending = all.pop()!;
    for (const line of all) if (line !== '') onLine(line);
  });
}

/**
 * Starts the keeper around the fixture daemon (`daemon` mode); `env` adds to the test's env;
 * `command` runs a wrapper that execs the keeper (its args are then `keeperArgs`).
 */
export function startKeeper(options: { env?: Record<string, string>; keeperArgs?: string[]; command?: string } = {}): KeeperUnderTest {
  const args = options.keeperArgs ?? ['--node', process.execPath, '--script', KEEPER_FIXTURE, 'daemon'];
  const child = spawnWithLibuv(options.command ?? KEEPER_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  const events: Event[] = [];
  const logs: Array<Record<string, unknown>> = [];
  lines(child.stdout!, (line) => events.push(JSON.parse(line) as Event));
  lines(child.stderr!, (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ msg: line, unparsed: true });
    }
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    process: child,
    events,
    logs,
    send(command) {
      child.stdin!.write(`${JSON.stringify(command)}\n`);
    },
    async waitFor(predicate, from = 0, timeoutMs = 15_000) {
      let found: Event | undefined;
      await pollUntil(() => (found = events.slice(from).find(predicate)) !== undefined, timeoutMs);
      return found!;
    },
    async waitForLog(predicate, timeoutMs = 15_000) {
      await pollUntil(() => logs.some(predicate), timeoutMs);
      return logs.find(predicate)!;
    },
    exited,
  };
}

/** The keeper's children, from /proc (its daemon, and services re-parented to it). */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    const text = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (text !== '') children.push(...text.split(' ').map(Number));
  }
  return children;
}

/** Kills what a test left running: the given pids (if still running), then the keeper; waits for its exit. */
export async function cleanUp(keeper: KeeperUnderTest, pids: number[]): Promise<void> {
  for (const pid of pids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  if (keeper.process.exitCode === null && keeper.process.signalCode === null) {
    const daemons = childrenOf(keeper.process.pid!);
    keeper.process.kill('SIGKILL');
    for (const pid of daemons) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  }
  await keeper.exited;
}
