// The calls the bench makes on pidvisor's HTTP API, as a user's script would: launches with
// a bounded number in flight (the daemon refuses a 17th launch at once with 503), retried
// after Retry-After when refused (429 rate limited, 503 too many launches), and removals.
import { performance } from 'node:perf_hooks';
import { request, requestJson, UnexpectedStatus, type Target } from './http-client.js';

export interface ProcessInfo {
  id: string;
  name: string | null;
  state: string;
  pid: number | null;
  exit: { code: number | null; signal: string | null } | null;
}

export const SLEEP_SPEC = { command: ['sleep', '3600'], stdout: 'null', stderr: 'null' } as const;
export const TRUE_SPEC = { command: ['true'], restart: { policy: 'no' } } as const;

export interface Refusals {
  /** Answers 429 (rate limited) and 503 (too many launches) that were retried. */
  retried: Record<string, number>;
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once; stops starting new ones past the deadline. */
export async function pool<T>(count: number, concurrency: number, deadline: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      if (performance.now() > deadline) throw new Error(`gave up: ${count - next} of ${count} not started before the deadline`);
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** One request that a refusal (429, 503) only delays: waits Retry-After (at most 2 s) and tries again, until the deadline. */
async function withRetry<T>(refusals: Refusals, deadline: number, call: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof UnexpectedStatus) || (error.status !== 429 && error.status !== 503) || performance.now() > deadline) throw error;
      const key = `HTTP ${error.status}`;
      refusals.retried[key] = (refusals.retried[key] ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, error.retryAfterMs ?? 100)));
    }
  }
}

export function launch(target: Target, spec: unknown, refusals: Refusals, deadline: number): Promise<ProcessInfo> {
  return withRetry(refusals, deadline, () => requestJson<ProcessInfo>(target, 'POST', '/v1/processes', spec, 201));
}

export async function launchBatch(target: Target, specs: unknown[], refusals: Refusals, deadline: number): Promise<ProcessInfo[]> {
  const body = await withRetry(refusals, deadline, () => requestJson<{ processes: ProcessInfo[] }>(target, 'POST', '/v1/processes/batch', { processes: specs }, 201));
  return body.processes;
}

/** DELETE /v1/processes?label=k=v...: every process with these labels, stopped and forgotten. */
export async function removeLabelled(target: Target, labels: Record<string, string>, refusals: Refusals, deadline: number): Promise<ProcessInfo[]> {
  const query = Object.entries(labels).map(([key, value]) => `label=${encodeURIComponent(`${key}=${value}`)}`).join('&');
  const body = await withRetry(refusals, deadline, () => requestJson<{ processes: ProcessInfo[] }>(target, 'DELETE', `/v1/processes?${query}`, undefined, 200));
  return body.processes;
}

export function remove(target: Target, id: string, refusals: Refusals, deadline: number): Promise<ProcessInfo> {
  return withRetry(refusals, deadline, () => requestJson<ProcessInfo>(target, 'DELETE', `/v1/processes/${id}`, undefined, 200));
}

/** One GET; 'ok' on 200. */
export async function getOnce(target: Target, path: string): Promise<string> {
  const reply = await request(target, 'GET', path);
  return reply.status === 200 ? 'ok' : `HTTP ${reply.status}`;
}

/**
 * Launch `true`, long-poll its exit, remove it: 'ok' when the launch answered 201, the wait
 * an exit with code 0, and the delete 200. A refusal is an outcome, not retried (the load
 * generator counts it). Whatever was created is removed even when a later step failed.
 */
export async function launchWaitDelete(target: Target): Promise<string> {
  const launched = await request(target, 'POST', '/v1/processes', TRUE_SPEC);
  if (launched.status !== 201) return `launch: HTTP ${launched.status}`;
  const { id } = JSON.parse(launched.body.toString('utf8')) as ProcessInfo;
  let outcome = 'ok';
  const waited = await request(target, 'GET', `/v1/processes/${id}/wait?timeoutMs=30000`);
  if (waited.status !== 200) outcome = `wait: HTTP ${waited.status}`;
  else {
    const result = JSON.parse(waited.body.toString('utf8')) as { exit: { code: number | null } | null; timedOut: boolean };
    if (result.timedOut || result.exit?.code !== 0) outcome = `wait: ${JSON.stringify(result).slice(0, 80)}`;
  }
  const removed = await request(target, 'DELETE', `/v1/processes/${id}`);
  if (removed.status !== 200 && outcome === 'ok') outcome = `delete: HTTP ${removed.status}`;
  return outcome;
}
