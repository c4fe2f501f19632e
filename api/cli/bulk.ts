// Acting on several processes at once (stop/start/restart/signal with several names, --all
// or --label): which processes, the actions run concurrently against the daemon (bounded),
// and one result per process.
//
// This is done here rather than by a server route (unlike removal's DELETE /v1/processes?label=):
// each process gets its own answer (stopped, already running, not found, spawn failed...),
// which the per-process routes already give with their stable error codes, while a bulk
// route would have to invent a multi-status body; and a stop or restart is already
// concurrent in the daemon, so one request per process costs nothing the user would see.
// Removal has its route because a removal cannot fail for one process and not another (its
// answer is the list of the removed); these actions can, so the CLI selects (GET
// /v1/processes, the same label rule) and acts on what matched when it looked.
import { ApiError } from './client.js';
import { EXIT, UsageError, type CommandContext } from './command.js';
import type { ProcessInfo } from '../../client/index.js';

/** Requests in flight at once: enough to overlap stop timeouts, few enough not to flood the daemon's limits. */
export const BULK_CONCURRENCY = 8;

/** One process to act on: as the user named it, or as the selection found it. */
export interface BulkTarget {
  /** A name or id as given, or the name (else id) of a selected process. */
  ref: string;
  /** The process as listed when selected by --all/--label (null when named on the command line). */
  selected: ProcessInfo | null;
}

/**
 * What to put in the URL: a selected process by its id, so that one removed meanwhile and
 * replaced by another of the same name is reported as not found rather than acted on.
 */
export function addressOf(target: BulkTarget): string {
  return target.selected?.id ?? target.ref;
}

export type BulkResult =
  | { target: string; ok: true; result: unknown }
  | { target: string; ok: false; error: { status: number; code: string; detail: string } };

export interface Selection {
  targets: BulkTarget[];
  /** The processes were named one by one, and only one was: its output keeps the single-process shape. */
  single: boolean;
}

/**
 * The processes a command names: the positionals, or every process (--all), or those with
 * all the labels (--label KEY=VALUE, split at the first `=`, as DELETE /v1/processes does).
 */
export async function selectTargets(context: CommandContext, names: string[]): Promise<Selection> {
  const labels = (context.values.label as string[] | undefined) ?? [];
  const all = context.values.all === true;
  if (labels.length === 0 && !all) {
    if (names.length === 0) throw new UsageError('missing a process id or name (or --all, or --label KEY=VALUE)');
    return { targets: [...new Set(names)].map((ref) => ({ ref, selected: null })), single: names.length === 1 };
  }
  if (names.length > 0) throw new UsageError('give processes, or --label/--all, not both');
  if (all && labels.length > 0) throw new UsageError('--all and --label exclude each other');
  const wanted = labelSelector(labels);
  const matching = (await context.client.list()).filter((p) => Object.entries(wanted).every(([key, value]) => p.labels[key] === value));
  return { targets: matching.map((p) => ({ ref: p.name ?? p.id, selected: p })), single: false };
}

/** --label KEY=VALUE options as one map; the same key twice must agree. */
export function labelSelector(labels: readonly string[]): Record<string, string> {
  const wanted: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const label of labels) {
    const at = label.indexOf('=');
    if (at <= 0) throw new UsageError(`--label takes KEY=VALUE, not ${JSON.stringify(label)}`);
    const key = label.slice(0, at);
    if (key in wanted && wanted[key] !== label.slice(at + 1)) throw new UsageError(`--label ${JSON.stringify(key)} is given with two values`);
    wanted[key] = label.slice(at + 1);
  }
  return wanted;
}

/**
 * Runs `act` for each target, at most BULK_CONCURRENCY at once, and returns the results in
 * the targets' order. An error that is not the daemon's answer (unreachable: exit 3) ends
 * the whole command.
 */
export async function runBulk(targets: BulkTarget[], act: (target: BulkTarget) => Promise<unknown>): Promise<BulkResult[]> {
  const results: BulkResult[] = new Array(targets.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < targets.length) {
      const index = next++;
      const target = targets[index]!;
      try {
        results[index] = { target: target.ref, ok: true, result: await act(target) };
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        results[index] = { target: target.ref, ok: false, error: { status: error.status, code: error.code, detail: error.message } };
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(BULK_CONCURRENCY, targets.length) }, worker));
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure !== undefined) throw failure.reason; // unreachable daemon (exit 3) or a bug: not one process's failure
  return results;
}

/**
 * Prints the results: a line per process (successes on stdout, failures on stderr, as a
 * single command's error would be), or with --json the process's answer for a single named
 * process (its error as usual) and an array of results otherwise. 0 only if all succeeded.
 */
export function report(context: CommandContext, command: string, selection: Selection, results: BulkResult[], describe: (result: unknown) => string): number {
  const failed = results.filter((r) => !r.ok).length;
  if (selection.single) {
    const only = results[0]!;
    if (!only.ok) throw new ApiError(only.error.status, { code: only.error.code as ApiError['code'], detail: only.error.detail });
    context.out(context.json ? JSON.stringify(only.result, null, 2) : describe(only.result));
    return EXIT.ok;
  }
  if (context.json) {
    context.out(JSON.stringify(results, null, 2));
  } else if (results.length === 0) {
    context.out('nothing matched');
  } else {
    for (const r of results) {
      if (r.ok) context.out(describe(r.result));
      else process.stderr.write(`pidvisor ${command}: ${r.target}: ${r.error.detail} (${r.error.code})\n`);
    }
  }
  return failed === 0 ? EXIT.ok : EXIT.failed;
}
