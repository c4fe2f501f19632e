// Commands that read streams from the daemon: logs (NDJSON records) and events (SSE), both
// through pidvisor/client's iterators, which resume where a dropped connection left off.
import type { ExitRecord, LogRecord, StreamedEvent } from '../../../client/index.js';
import { EXIT, requireTarget, UsageError, type Command, type CommandContext } from '../command.js';
import { followInstanceChanges } from '../instance-markers.js';

/** `--since`: an ISO time, or a duration back from now (90s, 10m, 2h, 1d); the time as ms since the epoch. */
export function sinceTime(text: string, now = Date.now()): number {
  const ago = /^(\d+)(s|m|h|d)$/.exec(text);
  if (ago !== null) return now - Number(ago[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[ago[2] as 's' | 'm' | 'h' | 'd'];
  const time = /^\d{4}-\d\d-\d\d/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(time)) throw new UsageError(`--since takes a time (2026-01-31T12:00:00Z) or a duration (90s, 10m, 2h, 1d), not ${JSON.stringify(text)}`);
  return time;
}

/** The one stream asked for by --stream, --stdout or --stderr (undefined: both). */
function chosenStream(values: CommandContext['values']): 'stdout' | 'stderr' | undefined {
  const asked = [values.stream as string | undefined, values.stdout === true ? 'stdout' : undefined, values.stderr === true ? 'stderr' : undefined].filter((s) => s !== undefined);
  if (asked.length > 1) throw new UsageError('give one of --stream, --stdout, --stderr (without any: both streams)');
  const stream = asked[0];
  if (stream !== undefined && stream !== 'stdout' && stream !== 'stderr') throw new UsageError('--stream takes stdout or stderr');
  return stream;
}

const logs: Command = {
  name: 'logs',
  summary: "Print a process's captured output: stdout to stdout, stderr to stderr.",
  usage: 'logs ID|NAME [-f] [--stdout|--stderr] [--tail N] [--since TIME] [--timestamps] [--prefix] [--json]',
  details: `  -f, --follow        keep printing output as it is captured, with a line on stdout where
                      an instance starts or ends (-- web: instance ... ended, pid 42: code 1
                      (exited) --); not with --json
  --stdout, --stderr  only that stream
  --stream STREAM     the same: stdout or stderr
  --tail N            only the last N records kept in memory
  --since TIME        only records captured since TIME: an ISO time, or a duration back
                      from now (90s, 10m, 2h, 1d)
  --timestamps        prefix each line with the time it was captured
  --prefix            prefix each line with its stream (stdout or stderr), e.g. when both
                      are sent to one file
  --json              one JSON record per line (data base64-encoded)`,
  options: {
    follow: { type: 'boolean', short: 'f' },
    stream: { type: 'string' },
    stdout: { type: 'boolean' },
    stderr: { type: 'boolean' },
    tail: { type: 'string' },
    since: { type: 'string' },
    timestamps: { type: 'boolean' },
    prefix: { type: 'boolean' },
  },
  client: true,
  async run(context: CommandContext) {
    const target = requireTarget(context);
    const stream = chosenStream(context.values);
    const tail = context.values.tail as string | undefined;
    if (tail !== undefined && !/^\d+$/.test(tail)) throw new UsageError('--tail takes a number of records');
    const since = context.values.since === undefined ? undefined : sinceTime(context.values.since as string);
    const query = { ...(stream === undefined ? {} : { stream }), ...(tail === undefined ? {} : { tail: Number(tail) }) };
    const stamps = context.values.timestamps === true;
    const prefix = context.values.prefix === true;
    const print = (record: LogRecord): void => {
      // The daemon has no time filter; each record carries the time it was captured.
      if (since !== undefined && Date.parse(record.time) < since) return;
      if (context.json) {
        context.out(JSON.stringify({ seq: record.seq, time: record.time, stream: record.stream, partial: record.partial, data: record.data.toString('base64') }));
        return;
      }
      const head = `${stamps ? `${record.time} ` : ''}${prefix ? `${record.stream} ` : ''}`;
      const text = Buffer.concat([Buffer.from(head), record.data, record.partial ? Buffer.alloc(0) : Buffer.from('\n')]);
      (record.stream === 'stderr' ? process.stderr : process.stdout).write(text);
    };
    if (context.values.follow !== true) {
      for (const record of await context.client.logs(target, query)) print(record);
      return EXIT.ok;
    }
    const markers = context.json ? null : await followInstanceChanges(context, target, (line) => process.stdout.write(`${line}\n`));
    try {
      // Across a daemon restart (or a drop for reading too slowly) the client reconnects and
      // goes on after the last record printed; it ends when the process is removed.
      for await (const record of context.client.followLogs(target, query)) print(record);
    } finally {
      markers?.stop();
    }
    return EXIT.ok;
  },
};

const events: Command = {
  name: 'events',
  summary: 'Follow state changes of every process, as they happen (until interrupted).',
  usage: 'events [--after SEQ] [--json]',
  details: `  --after SEQ         first replay the kept events after this sequence number (0: all kept)`,
  options: { after: { type: 'string' } },
  client: true,
  async run(context: CommandContext) {
    const after = context.values.after as string | undefined;
    if (after !== undefined && !/^\d+$/.test(after)) throw new UsageError('--after takes a sequence number');
    for await (const event of context.client.events(after === undefined ? {} : { after: Number(after) })) {
      context.out(context.json ? JSON.stringify(event) : describeEvent(event));
    }
    return EXIT.ok;
  },
};

function describeEvent(event: StreamedEvent): string {
  if (event.type === 'gap') return `gap: events ${event.after + 1} to ${event.oldest - 1} are no longer kept by the daemon`;
  if (event.type === 'reset') return `reset: the daemon numbers its events anew (asked after ${event.after}, its newest is ${event.lastSeq}); replaying what it kept`;
  const record = event as unknown as Record<string, unknown>;
  const who = event.service.name ?? event.service.id;
  const change = event.from !== undefined ? `${event.from} -> ${String(event.to)}` : '';
  const why = event.reason === undefined ? '' : `: ${event.reason}`;
  const ended = event.type === 'exit' ? describeEnd(record) : '';
  return [event.seq, event.time, event.type, who, change, ended].filter((part) => part !== '' && part !== undefined).join(' ') + why;
}

/** An exit event's pid and instance, and how it ended: code or signal, and why (exited, stopped, killed). */
function describeEnd(event: Record<string, unknown>): string {
  const exit = event.exit as Pick<ExitRecord, 'code' | 'signal' | 'coreDumped' | 'reason'> | undefined;
  const pid = event.pid === undefined || event.pid === null ? '' : `pid ${String(event.pid)} `;
  const instance = typeof event.instance === 'string' ? `instance ${event.instance} ` : '';
  if (exit === undefined) return `${pid}${instance}`.trimEnd();
  const how = exit.signal !== null ? `signal ${exit.signal}${exit.coreDumped ? ' (core dumped)' : ''}` : `code ${String(exit.code)}`;
  return `${pid}${instance}${how} (${exit.reason})`;
}

export const streamCommands: Command[] = [logs, events];
