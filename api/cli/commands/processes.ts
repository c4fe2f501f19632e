// Commands on processes: run, ps, status, start, stop, restart, rm, signal, wait.
import { EXIT, requireTarget, UsageError, type Command, type CommandContext } from '../command.js';
import { stdoutPalette } from '../colour.js';
import { processDetails, processTable } from '../format.js';
import { parkedLines } from '../format-dependencies.js';
import { addressOf, BULK_CONCURRENCY, labelSelector, report, runBulk, selectTargets } from '../bulk.js';
import { ApiError } from '../client.js';
import type { ExitRecord, LaunchSpec, ProcessInfo } from '../../../client/index.js';
import { signalNumber, type SignalName } from '../../../native/signals.js';

function print(context: CommandContext, info: ProcessInfo): void {
  context.out(context.json ? JSON.stringify(info, null, 2) : processDetails(info, Date.now(), stdoutPalette()));
}

/** KEY=VALUE pairs from repeated options. */
function pairs(values: string[] | undefined, option: string): Record<string, string> | undefined {
  if (values === undefined) return undefined;
  const result: Record<string, string> = {};
  for (const item of values) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`${option} takes KEY=VALUE, not ${JSON.stringify(item)}`);
    result[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return result;
}

function integer(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${option} takes a non-negative integer, not ${JSON.stringify(value)}`);
  return Number(value);
}

/** Exit status the shell would show: the code, or 128 + signal number. */
export function exitStatusOf(exit: ExitRecord | null): number {
  if (exit === null) return EXIT.failed;
  if (exit.code !== null) return exit.code;
  return exit.signal === null ? EXIT.failed : 128 + signalNumber(exit.signal as SignalName);
}

const run: Command = {
  name: 'run',
  summary: 'Start a command under the daemon and print the process.',
  usage: 'run [options] -- COMMAND [ARGS...]',
  details: `Options:
  --name NAME            unique name to address it by
  --env KEY=VALUE        environment variable (repeatable); added to the daemon's unless --clear-env
  --clear-env            start from an empty environment
  --cwd DIR              working directory
  --user USER            run as this user (name or uid); --group GROUP overrides the group
  --group GROUP
  --restart POLICY       no | on-failure | always (default on-failure)
  --kill-mode MODE       process | group | cgroup (default: cgroup where available, else group)
  --stop-signal SIGNAL   sent by stop (default SIGTERM)
  --stop-timeout MS      then SIGKILL (default 10000)
  --label KEY=VALUE      (repeatable)
  --idempotency-key KEY  a retried run with the same key returns the first result
  --notify               give it NOTIFY_SOCKET (sd_notify): ready at READY=1, STATUS= shown
  --wait-ready           answer once it is ready, or fail with the reason it will not be
  --wait                 wait for it to exit; exit with its status
  --rm                   with --wait: remove it (and its logs) once it has exited; one
                         request, so nothing is left behind even if this command is killed`,
  options: {
    name: { type: 'string' },
    env: { type: 'string', multiple: true },
    'clear-env': { type: 'boolean' },
    cwd: { type: 'string' },
    user: { type: 'string' },
    group: { type: 'string' },
    restart: { type: 'string' },
    'kill-mode': { type: 'string' },
    'stop-signal': { type: 'string' },
    'stop-timeout': { type: 'string' },
    label: { type: 'string', multiple: true },
    'idempotency-key': { type: 'string' },
    wait: { type: 'boolean' },
    rm: { type: 'boolean' },
    notify: { type: 'boolean' },
    'wait-ready': { type: 'boolean' },
  },
  client: true,
  async run(context) {
    const v = context.values;
    if (context.positionals.length === 0) throw new UsageError('missing the command to run (put it after --)');
    const spec: Record<string, unknown> = { command: context.positionals };
    const set = (key: string, value: unknown): void => {
      if (value !== undefined) spec[key] = value;
    };
    set('name', v.name);
    set('env', pairs(v.env as string[] | undefined, '--env'));
    if (v['clear-env'] === true) spec.clearEnv = true;
    set('cwd', v.cwd);
    set('user', v.user);
    set('group', v.group);
    if (v.restart !== undefined) spec.restart = { policy: v.restart };
    set('killMode', v['kill-mode']);
    set('stopSignal', v['stop-signal']);
    set('stopTimeoutMs', integer(v['stop-timeout'] as string | undefined, '--stop-timeout'));
    set('labels', pairs(v.label as string[] | undefined, '--label'));
    if (v.notify === true) spec.notify = true;
    // The daemon validates the spec (the CLI builds it from flags and does not repeat the schema).
    if (v.rm === true && v.wait !== true) throw new UsageError('--rm needs --wait (the process is removed once it has exited)');
    if (v.rm === true && v['wait-ready'] === true) throw new UsageError('--rm and --wait-ready exclude each other');
    const idempotency = v['idempotency-key'] === undefined ? {} : { idempotencyKey: String(v['idempotency-key']) };
    if (v.rm === true) {
      // Launch, wait and remove in one request: the daemon removes it even if we are gone.
      const last = await context.client.launch(spec as LaunchSpec, { ...idempotency, waitExit: true, remove: true });
      if (context.json) context.out(JSON.stringify(last.exit, null, 2));
      return exitStatusOf(last.exit);
    }
    const launchOptions = { waitReady: v['wait-ready'] === true, ...idempotency };
    const body = await context.client.launch(spec as LaunchSpec, launchOptions);
    if (v.wait === true) {
      const exit = await waitFor(context, body.id);
      if (context.json) context.out(JSON.stringify(exit, null, 2));
      return exitStatusOf(exit);
    }
    if (context.json) print(context, body);
    else context.out(`${body.id}${body.name === null ? '' : ` ${body.name}`} ${body.state} pid ${body.pid ?? '-'}`);
    return EXIT.ok;
  },
};

const ps: Command = {
  name: 'ps',
  summary: 'List the processes the daemon supervises, with the CPU % (of one core) and memory of each running one.',
  usage: 'ps [--json]',
  options: {},
  client: true,
  async run(context) {
    const list = await context.client.list();
    // Why each waiting or blocked process waits, under the table.
    const parked = context.json ? [] : parkedLines(list);
    context.out(context.json ? JSON.stringify(list, null, 2) : [processTable(list, Date.now(), stdoutPalette()), ...(parked.length > 0 ? ['', ...parked] : [])].join('\n'));
    return EXIT.ok;
  },
};

const status: Command = {
  name: 'status',
  summary: 'Show one process: state and why, pid, instance, restarts, CPU, memory, tasks and fds now, last exit, peak memory, logs written and dropped.',
  usage: 'status ID|NAME [--json]',
  options: {},
  client: true,
  async run(context) {
    print(context, await context.client.get(requireTarget(context)));
    return EXIT.ok;
  },
};

const SELECT_HELP = `  --all               every process the daemon supervises
  --label KEY=VALUE   every process with this label (repeat: with all of them)`;
const SELECT_OPTIONS = { label: { type: 'string', multiple: true }, all: { type: 'boolean' } } as const;
const BULK_HELP = `Several processes are acted on concurrently (${BULK_CONCURRENCY} at a time), with a line each
(failures on stderr); the exit code is 0 only if every one succeeded. With --json: an array
of {target, ok, result | error}, except for a single named process (its answer, as before).`;

function lifecycle(name: 'start' | 'stop' | 'restart', summary: string, withTimeout: boolean): Command {
  return {
    name,
    summary,
    usage: `${name} ID|NAME... | --all | --label KEY=VALUE...${withTimeout ? ' [--timeout MS]' : ''} [--json]`,
    details: `${SELECT_HELP}${withTimeout ? '\n  --timeout MS        before SIGKILL, for each' : ''}\n\n${BULK_HELP}`,
    options: { ...SELECT_OPTIONS, ...(withTimeout ? { timeout: { type: 'string' } } : {}) },
    client: true,
    async run(context) {
      const timeoutMs = integer(context.values.timeout as string | undefined, '--timeout');
      const selection = await selectTargets(context, context.positionals);
      const options = timeoutMs === undefined ? {} : { timeoutMs };
      const act = (ref: string): Promise<ProcessInfo> => (name === 'start' ? context.client.start(ref) : context.client[name](ref, options));
      const results = await runBulk(selection.targets, (target) => act(addressOf(target)));
      return report(context, name, selection, results, (info) => `${(info as ProcessInfo).name ?? (info as ProcessInfo).id}: ${(info as ProcessInfo).state}`);
    },
  };
}

const rm: Command = {
  name: 'rm',
  summary: 'Stop processes and forget them, with their logs: one by id or name, or every one with given labels.',
  usage: 'rm ID|NAME | --label KEY=VALUE... | --all  [--timeout MS] [--json]',
  details: `  --label KEY=VALUE   every process with this label (repeat: with all of them), in parallel
  --all               every process the daemon supervises
  --timeout MS        before SIGKILL, for each`,
  options: { timeout: { type: 'string' }, label: { type: 'string', multiple: true }, all: { type: 'boolean' } },
  client: true,
  async run(context) {
    const timeoutMs = integer(context.values.timeout as string | undefined, '--timeout');
    const labels = (context.values.label as string[] | undefined) ?? [];
    const all = context.values.all === true;
    if (labels.length === 0 && !all) {
      const target = requireTarget(context);
      const removed = await context.client.remove(target, timeoutMs === undefined ? {} : { timeoutMs });
      if (context.json) print(context, removed);
      else context.out(`${removed.name ?? removed.id}: removed`);
      return EXIT.ok;
    }
    if (context.positionals.length > 0) throw new UsageError('give a process, or --label/--all, not both');
    if (all && labels.length > 0) throw new UsageError('--all and --label exclude each other');
    const processes = await context.client.removeMatching(all ? { all: true } : { labels: labelSelector(labels) }, timeoutMs === undefined ? {} : { timeoutMs });
    if (context.json) context.out(JSON.stringify(processes, null, 2));
    else context.out(processes.length === 0 ? 'nothing matched' : processes.map((p) => `${p.name ?? p.id}: removed`).join('\n'));
    return EXIT.ok;
  },
};

const signal: Command = {
  name: 'signal',
  summary: 'Send a signal to the current instance, through its pidfd.',
  usage: 'signal ID|NAME... SIGNAL | signal --all|--label KEY=VALUE... SIGNAL  [--instance INSTANCE] [--group] [--json]',
  details: `  --instance INSTANCE   only if this is still the current instance (else nothing is sent);
                        with one named process only
  --group               to the process group the instance leads
${SELECT_HELP}
                      each is signalled only if the instance seen when selecting is still
                      current (else PIDVISOR_ERR_INSTANCE_MISMATCH, and nothing is sent)

${BULK_HELP}`,
  options: { instance: { type: 'string' }, group: { type: 'boolean' }, ...SELECT_OPTIONS },
  client: true,
  async run(context) {
    const signalName = context.positionals.at(-1);
    const names = context.positionals.slice(0, -1);
    const selecting = context.values.all === true || context.values.label !== undefined;
    if (signalName === undefined || (names.length === 0 && !selecting)) throw new UsageError('needs a process and a signal, e.g. `pidvisor signal web HUP`');
    if (context.values.instance !== undefined && (selecting || names.length > 1)) throw new UsageError('--instance goes with one named process');
    const selection = await selectTargets(context, names);
    const signal = /^\d+$/.test(signalName) ? Number(signalName) : signalName.toUpperCase();
    const group = context.values.group === true ? ({ target: 'group' } as const) : {};
    const results = await runBulk(selection.targets, async (target) => {
      // A selected process is signalled only while the instance the selection saw still runs:
      // a restart in between must not make a process nobody selected receive the signal.
      const instance = target.selected === null ? (context.values.instance as string | undefined) : target.selected.instance;
      if (instance === null) throw new ApiError(409, { code: 'PIDVISOR_ERR_NOT_RUNNING', detail: `${target.ref} was not running when selected; nothing was signalled` });
      const sent = await context.client.signal(addressOf(target), signal, { ...group, ...(instance === undefined ? {} : { instance }) });
      return { target: target.ref, ...sent };
    });
    return report(context, 'signal', selection, results, (sent) => `sent ${signalName} to ${(sent as { target: string }).target}`);
  },
};

/** The exit of the instance running now (the last one when none runs); null when the timeout came first. */
async function waitFor(context: CommandContext, target: string, timeoutMs?: number): Promise<ExitRecord | null> {
  return (await context.client.wait(target, timeoutMs === undefined ? {} : { timeoutMs })).exit;
}

const wait: Command = {
  name: 'wait',
  summary: 'Wait until the current instance exits; exit with its status (the code, or 128+signal).',
  usage: 'wait ID|NAME [--timeout MS] [--json]',
  details: `  --timeout MS        give up after MS milliseconds: exit 1 (with --json, null)`,
  options: { timeout: { type: 'string' } },
  client: true,
  async run(context) {
    const exit = await waitFor(context, requireTarget(context), integer(context.values.timeout as string | undefined, '--timeout'));
    if (context.json) context.out(JSON.stringify(exit, null, 2));
    return exitStatusOf(exit);
  },
};

export const processCommands: Command[] = [
  run,
  ps,
  status,
  lifecycle('start', 'Start a stopped, exited or failed process.', false),
  lifecycle('stop', 'Stop the process and everything it started; returns once all of it is gone.', true),
  lifecycle('restart', 'Stop, then start again (concurrent restarts share one).', true),
  rm,
  signal,
  wait,
];
