// `pidvisor top`: a live table of every process (state, CPU %, memory, restarts, uptime),
// redrawn when the event stream says something changed, and every --interval for the usage.
// The terminal is taken over (alternate screen, no cursor, keys read raw) and given back as
// it was on q, Ctrl-C, SIGTERM, SIGHUP, or when the daemon goes away.
import type { SupervisorEvent } from '../../../client/index.js';
import type { ServiceInfo } from '../../supervisor-api.js';
import { stdoutPalette, paintState, type Palette } from '../colour.js';
import { EXIT, UsageError, type Command, type CommandContext } from '../command.js';
import { cpuPercent, duration, shortBytes, table } from '../format.js';

const SORT_KEYS = { c: 'cpu', m: 'memory', n: 'name', r: 'restarts', u: 'uptime', s: 'state' } as const;
type SortKey = (typeof SORT_KEYS)[keyof typeof SORT_KEYS];
const SORTS = new Set<string>(Object.values(SORT_KEYS));
/** Events come in bursts (a restart is three): one list refresh per burst. */
const EVENT_REFRESH_DELAY_MS = 100;

// Terminal control sequences (ECMA-48 / xterm).
const ALT_SCREEN_ON = '\x1b[?1049h';
const ALT_SCREEN_OFF = '\x1b[?1049l';
const CURSOR_HIDE = '\x1b[?25l';
const CURSOR_SHOW = '\x1b[?25h';
const HOME_AND_CLEAR = '\x1b[H\x1b[2J';

export const topCommand: Command = {
  name: 'top',
  summary: 'A live table of every process: state, CPU %, memory, restarts, uptime; q quits.',
  usage: 'top [--sort KEY] [--interval MS]',
  details: `  --sort KEY          cpu (the default), memory, name, restarts, uptime or state
  --interval MS       how often CPU and memory are refreshed (default 2000, at least 500)

States change on screen as the daemon's event stream reports them; CPU % is of one core over
the last refresh. Keys: c m n r u s sort by cpu, memory, name, restarts, uptime, state
(the same key again reverses the order); q or Ctrl-C quits. Needs a terminal: for scripts,
\`pidvisor ps --json\`.`,
  options: { sort: { type: 'string' }, interval: { type: 'string' } },
  client: true,
  async run(context) {
    const sort = (context.values.sort as string | undefined) ?? 'cpu';
    if (!SORTS.has(sort)) throw new UsageError(`--sort takes one of ${[...SORTS].join(', ')}, not ${JSON.stringify(sort)}`);
    const intervalText = (context.values.interval as string | undefined) ?? '2000';
    if (!/^\d+$/.test(intervalText) || Number(intervalText) < 500) throw new UsageError('--interval takes a number of ms, at least 500');
    if (context.json) throw new UsageError('top draws a table for people; for JSON use `pidvisor ps --json` or `pidvisor events --json`');
    if (process.stdout.isTTY !== true || process.stdin.isTTY !== true) throw new UsageError('top needs a terminal; for scripts use `pidvisor ps` or `pidvisor events`');
    // The first list before the screen is taken: an unreachable daemon is an ordinary error.
    const first = await list(context);
    return new Top(context, first, sort as SortKey, Number(intervalText)).run();
  },
};

async function list(context: CommandContext): Promise<ServiceInfo[]> {
  return context.client.list();
}

class Top {
  readonly #context: CommandContext;
  readonly #colours: Palette;
  readonly #intervalMs: number;
  #processes: ServiceInfo[];
  #sort: SortKey;
  #reversed = false;
  #status = '';
  #fetchedAt = Date.now();
  #refreshTimer: NodeJS.Timeout | undefined;
  #eventTimer: NodeJS.Timeout | undefined;
  readonly #events = new AbortController();
  #finish: (code: number) => void = () => {};
  #finished = false;

  constructor(context: CommandContext, processes: ServiceInfo[], sort: SortKey, intervalMs: number) {
    this.#context = context;
    this.#processes = processes;
    this.#sort = sort;
    this.#intervalMs = intervalMs;
    this.#colours = stdoutPalette();
  }

  run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.#finish = resolve));
    this.#takeTerminal();
    this.#draw();
    this.#refreshTimer = setInterval(() => this.#refresh(), this.#intervalMs);
    this.#follow().catch((error: unknown) => {
      this.#status = `event stream: ${(error as Error).message}; refreshing every ${this.#intervalMs} ms`;
      this.#draw();
    });
    return done;
  }

  #takeTerminal(): void {
    process.stdin.setRawMode(true);
    process.stdin.resume();
    process.stdin.on('data', this.#onKey);
    process.stdout.on('resize', this.#onResize);
    for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) process.on(signal, this.#onSignal);
    process.stdout.write(ALT_SCREEN_ON + CURSOR_HIDE);
  }

  /** Gives the terminal back as it was, whatever ends top. Once. */
  #quit(code: number): void {
    if (this.#finished) return;
    this.#finished = true;
    clearInterval(this.#refreshTimer);
    clearTimeout(this.#eventTimer);
    this.#events.abort();
    process.stdin.off('data', this.#onKey);
    process.stdout.off('resize', this.#onResize);
    for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) process.off(signal, this.#onSignal);
    process.stdin.setRawMode(false);
    process.stdin.pause();
    process.stdout.write(CURSOR_SHOW + ALT_SCREEN_OFF);
    this.#finish(code);
  }

  readonly #onSignal = (): void => this.#quit(EXIT.ok);
  readonly #onResize = (): void => this.#draw();

  readonly #onKey = (data: Buffer): void => {
    for (const key of data.toString('latin1')) {
      // Raw mode: Ctrl-C arrives as a byte, not as SIGINT.
      if (key === 'q' || key === '\x03') {
        this.#quit(EXIT.ok);
        return;
      }
      const sort = SORT_KEYS[key as keyof typeof SORT_KEYS];
      if (sort === undefined) continue;
      this.#reversed = sort === this.#sort ? !this.#reversed : false;
      this.#sort = sort;
      this.#draw();
    }
  };

  /**
   * States as the events tell them, at once; counters and usage with the next list. The
   * client's iterator resumes across a dropped connection (a daemon restarted by its keeper).
   */
  async #follow(): Promise<void> {
    for await (const event of this.#context.client.events({ signal: this.#events.signal })) {
      if (event.type !== 'gap' && event.type !== 'reset') this.#onEvent(event);
    }
  }

  #onEvent(event: SupervisorEvent): void {
    const row = this.#processes.find((p) => p.id === event.service.id);
    if (event.type === 'state' && row !== undefined) {
      row.state = event.to as ServiceInfo['state'];
      row.pid = event.pid ?? null;
      if (row.pid === null) row.usage = null;
      this.#draw();
    }
    clearTimeout(this.#eventTimer);
    this.#eventTimer = setTimeout(() => this.#refresh(), EVENT_REFRESH_DELAY_MS);
  }

  #refresh(): void {
    list(this.#context).then(
      (processes) => {
        this.#processes = processes;
        this.#fetchedAt = Date.now();
        if (this.#status.startsWith('daemon')) this.#status = '';
        this.#draw();
      },
      (error: unknown) => {
        this.#status = `daemon: ${(error as Error).message}`;
        this.#draw();
      },
    );
  }

  #draw(): void {
    if (this.#finished) return;
    // A pty nobody sized (script(1) without a terminal) says 0 by 0.
    const width = process.stdout.columns || 80;
    const height = process.stdout.rows || 24;
    const c = this.#colours;
    const now = Date.now();
    const running = this.#processes.filter((p) => p.state === 'running').length;
    const rows = sortRows(this.#processes, this.#sort, this.#reversed).map((p) => [
      p.name ?? p.id,
      p.state,
      p.pid === null ? '-' : String(p.pid),
      cpuPercent(p.usage),
      shortBytes(p.usage?.memoryBytes ?? null),
      String(p.restarts),
      p.startedAt === null ? '-' : duration(now - Date.parse(p.startedAt)),
    ]);
    const header = `pidvisor top - ${this.#processes.length} processes, ${running} running - sort: ${this.#sort}${this.#reversed ? ' (reversed)' : ''} - ${new Date(this.#fetchedAt).toLocaleTimeString()}`;
    const body = table(['NAME', 'STATE', 'PID', 'CPU%', 'MEM', 'RESTARTS', 'UPTIME'], rows, (column, padded, row) => (column === 1 ? padded.replace(row[1]!, paintState(c, row[1]!)) : padded), c.inverse).split('\n');
    const help = 'c m n r u s: sort   q: quit';
    // Two lines for the header and one for the status or help: the rest for the table.
    const visible = body.slice(0, Math.max(1, height - 3));
    const lines = [c.bold(clip(header, width)), '', ...visible.map((line) => clipStyled(line, width)), c.dim(clip(this.#status === '' ? help : this.#status, width))];
    // \n alone: raw mode as libuv sets it keeps the tty's newline translation (ONLCR).
    process.stdout.write(HOME_AND_CLEAR + lines.join('\n'));
  }
}

const STATE_ORDER = ['failed', 'blocked', 'backoff', 'waiting', 'starting', 'stopping', 'removing', 'running', 'exited', 'stopped', 'removed'];

/** Largest first for numbers, A to Z for names, the states that need a look first. */
export function sortRows(processes: ServiceInfo[], key: SortKey, reversed: boolean): ServiceInfo[] {
  const label = (p: ServiceInfo): string => p.name ?? p.id;
  const number = (p: ServiceInfo): number => {
    switch (key) {
      case 'cpu':
        return p.usage?.cpuPercent ?? -1;
      case 'memory':
        return p.usage?.memoryBytes ?? -1;
      case 'restarts':
        return p.restarts;
      case 'uptime':
        return p.startedAt === null ? -1 : -Date.parse(p.startedAt);
      default:
        return 0;
    }
  };
  const compare = (a: ServiceInfo, b: ServiceInfo): number => {
    if (key === 'name') return label(a).localeCompare(label(b));
    if (key === 'state') return STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state) || label(a).localeCompare(label(b));
    return number(b) - number(a) || label(a).localeCompare(label(b));
  };
  const sorted = [...processes].sort(compare);
  return reversed ? sorted.reverse() : sorted;
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : text.slice(0, Math.max(0, width - 1));
}

/** Clips a line that may hold colour codes to `width` visible characters (codes do not count). */
function clipStyled(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\x1b') {
      const end = line.indexOf('m', i);
      out += line.slice(i, end + 1);
      i = end;
      continue;
    }
    if (visible >= width) continue;
    out += line[i];
    visible++;
  }
  return out;
}
