// The processes the bench starts itself (daemons, servers, drivers), kept in a registry so
// that cleanup signals exactly these, by their pid, and nothing else.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface Started {
  name: string;
  pid: number;
  child: ChildProcess;
  /** Resolves when the process has exited (and been reaped). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Why it is no longer running, or null while it runs. */
  deadReason(): string | null;
}

const registry = new Set<Started>();

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  /** stdout and stderr go to this file (appended); default: inherited stderr for both. */
  logFile?: string;
  /** Pipe stdout to the bench instead (for a ready line or a JSON result); stderr still goes to logFile. */
  pipeStdout?: boolean;
}

export function startProcess(name: string, command: string, args: readonly string[], options: StartOptions = {}): Started {
  const logFd = options.logFile === undefined ? 'inherit' : fs.openSync(options.logFile, 'a', 0o600);
  const stdio: StdioOptions = ['ignore', options.pipeStdout === true ? 'pipe' : logFd === 'inherit' ? 2 : logFd, logFd === 'inherit' ? 2 : logFd];
  const child = spawn(command, args, { stdio, env: options.env ?? process.env });
  if (typeof logFd === 'number') fs.closeSync(logFd);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  let dead: string | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (error) => {
      dead = `${name} failed: ${error.message}`;
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => {
      dead = `${name} exited (code ${code}, signal ${signal})${options.logFile === undefined ? '' : `; see ${options.logFile}`}`;
      registry.delete(started);
      resolve({ code, signal });
    });
  });
  const started: Started = { name, pid: child.pid, child, exited, deadReason: () => dead };
  registry.add(started);
  return started;
}

/** Sends `signal` and waits for the exit; SIGKILL past `timeoutMs`. Resolves with the time to exit. */
export async function stopProcess(started: Started, timeoutMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ ms: number; forced: boolean; code: number | null }> {
  const t0 = performance.now();
  if (started.deadReason() !== null) return { ms: 0, forced: false, code: (await started.exited).code };
  started.child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([started.exited.then((exit) => ({ exit })), new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)))]);
  clearTimeout(timer);
  if (outcome !== null) return { ms: performance.now() - t0, forced: false, code: outcome.exit.code };
  started.child.kill('SIGKILL');
  const exit = await started.exited;
  return { ms: performance.now() - t0, forced: true, code: exit.code };
}

/** Last resort at exit: SIGKILL to every process the bench started that still runs. */
export function killAllStarted(): void {
  for (const started of registry) {
    if (started.deadReason() === null) started.child.kill('SIGKILL');
  }
  registry.clear();
}

/** The first line a started process writes on its piped stdout. */
export function firstLine(started: Started, timeoutMs: number): Promise<string> {
  const stdout = started.child.stdout;
  if (stdout === null) return Promise.reject(new Error(`${started.name}: stdout is not piped`));
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => finish(new Error(`${started.name}: no line on stdout within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString('utf8');
      const newline = buffer.indexOf('\n');
      if (newline >= 0) finish(null, buffer.slice(0, newline));
    };
    const onExit = (): void => finish(new Error(started.deadReason() ?? `${started.name} exited`));
    const finish = (error: Error | null, line?: string): void => {
      clearTimeout(timer);
      stdout.off('data', onData);
      started.child.off('exit', onExit);
      if (error === null) resolve(line!);
      else reject(error);
    };
    stdout.on('data', onData);
    started.child.once('exit', onExit);
  });
}

/** Everything a started process writes on its piped stdout, once it has exited. */
export async function allStdout(started: Started): Promise<string> {
  const stdout = started.child.stdout;
  if (stdout === null) throw new Error(`${started.name}: stdout is not piped`);
  const chunks: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  await Promise.all([started.exited, new Promise((resolve) => stdout.once('close', resolve))]);
  return Buffer.concat(chunks).toString('utf8');
}

/** At an interrupted run: SIGTERM to every process the bench started, SIGKILL to those still there after `graceMs`. */
export async function terminateAllStarted(graceMs: number): Promise<void> {
  const running = [...registry].filter((s) => s.deadReason() === null);
  for (const started of running) started.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(running.map((s) => s.exited)), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  killAllStarted();
}
