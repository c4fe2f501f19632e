// Commands that read streams from the daemon: logs (NDJSON records) and events (SSE).
import type { IncomingMessage } from 'node:http';
import { ApiError, readAll } from '../client.js';
import type { ExitRecord } from '../../supervisor-api.js';
import { EXIT, requireTarget, UsageError, type Command, type CommandContext } from '../command.js';

interface WireRecord {
  seq: number;
  time: string;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  data: string;
}

/** Calls `onLine` for each complete line of a streamed response, until it ends. */
function eachLine(response: IncomingMessage, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      try {
        while ((newline = pending.indexOf('\n')) >= 0) {
          onLine(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
        }
      } catch (error) {
        response.destroy();
        reject(error);
      }
    });
    response.on('end', () => {
      try {
        if (pending !== '') onLine(pending);
        resolve();
      } catch (error) {
        reject(error);
      }
    });
    response.on('error', reject);
  });
}

async function checked(response: IncomingMessage): Promise<IncomingMessage> {
  if ((response.statusCode ?? 500) < 400) return response;
  const text = await readAll(response);
  throw new ApiError(response.statusCode ?? 500, text === '' ? {} : (JSON.parse(text) as Record<string, unknown>));
}

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
  details: `  -f, --follow        keep printing output as it is captured
  --stdout, --stderr  only that stream (also: --stream stdout|stderr)
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
    const query = new URLSearchParams();
    const stream = chosenStream(context.values);
    if (stream !== undefined) query.set('stream', stream);
    const tail = context.values.tail as string | undefined;
    if (tail !== undefined && !/^\d+$/.test(tail)) throw new UsageError('--tail takes a number of records');
    if (tail !== undefined) query.set('tail', tail);
    const since = context.values.since === undefined ? undefined : sinceTime(context.values.since as string);
    if (context.values.follow === true) query.set('follow', 'true');
    const response = await checked(await context.client.open('GET', `/v1/processes/${encodeURIComponent(target)}/logs?${query}`));
    const stamps = context.values.timestamps === true;
    const prefix = context.values.prefix === true;
    await eachLine(response, (line) => {
      if (line === '') return;
      const record = JSON.parse(line) as WireRecord | StreamEnd;
      if ('code' in record) throw streamEnded(record);
      // The daemon has no time filter; each record carries the time it was captured.
      if (since !== undefined && Date.parse(record.time) < since) return;
      if (context.json) {
        context.out(line);
        return;
      }
      const head = `${stamps ? `${record.time} ` : ''}${prefix ? `${record.stream} ` : ''}`;
      const text = Buffer.concat([Buffer.from(head), Buffer.from(record.data, 'base64'), record.partial ? Buffer.alloc(0) : Buffer.from('\n')]);
      (record.stream === 'stderr' ? process.stderr : process.stdout).write(text);
    });
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
    const response = await checked(await context.client.open('GET', `/v1/events${after === undefined ? '' : `?after=${after}`}`, undefined, { accept: 'text/event-stream' }));
    let data = '';
    let type = '';
    await eachLine(response, (line) => {
      if (line.startsWith('data:')) data += line.slice(5).trim();
      else if (line.startsWith('event:')) type = line.slice(6).trim();
      else if (line === '' && data !== '') {
        const event = JSON.parse(data) as Record<string, unknown>;
        if (type === 'dropped') throw streamEnded(event as unknown as StreamEnd);
        context.out(context.json ? JSON.stringify(event) : describeEvent(type, event));
        data = '';
        type = '';
      }
    });
    return EXIT.ok;
  },
};

/** The last line of a stream whose client fell behind (a slow terminal, a paused pipe). */
interface StreamEnd {
  code: string;
  detail: string;
  after?: number;
  lastEventId?: number;
}

function streamEnded(end: StreamEnd): ApiError {
  const resume = end.after !== undefined ? ` (the last record shown is seq ${end.after})` : end.lastEventId !== undefined ? `; resume with --after ${end.lastEventId}` : '';
  return new ApiError(200, { code: end.code, detail: `the daemon ended the stream: ${end.detail}${resume}` });
}

function describeEvent(type: string, event: Record<string, unknown>): string {
  const service = event.service as { id: string; name: string | null } | undefined;
  const who = service === undefined ? '' : (service.name ?? service.id);
  const change = event.from !== undefined ? `${String(event.from)} -> ${String(event.to)}` : '';
  const why = event.reason === undefined ? '' : `: ${String(event.reason)}`;
  const ended = (type || event.type) === 'exit' ? describeEnd(event) : '';
  return [event.seq, event.time, type || event.type, who, change, ended].filter((part) => part !== '' && part !== undefined).join(' ') + why;
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
