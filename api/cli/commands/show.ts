// `pidvisor show NAME`: one process in full, from GET /v1/processes/{id}/inspect: its state
// and why, the current instance, its definition as YAML, the processes of its tree now, and
// its last exits.
import { stringify } from 'yaml';
import { EXIT, requireTarget, type Command } from '../command.js';
import { stdoutPalette } from '../colour.js';
import { duration, processDetails, table } from '../format.js';
import type { ExitRecord, ProcessInspection } from '../../../client/index.js';

type TreeProcess = ProcessInspection['tree'][number];

/** The tree indented under each parent; a process whose parent is not listed starts a root. */
export function treeLines(tree: TreeProcess[]): string[] {
  const pids = new Set(tree.map((p) => p.pid));
  const lines: string[] = [];
  const visit = (p: TreeProcess, depth: number): void => {
    lines.push(`${'  '.repeat(depth)}${p.pid}  ${p.command.join(' ')}`);
    for (const child of tree) if (child.ppid === p.pid && child.pid !== p.pid) visit(child, depth + 1);
  };
  for (const root of tree) if (!pids.has(root.ppid)) visit(root, 0);
  return lines;
}

function exitTable(exits: ExitRecord[], now: number): string {
  return table(
    ['ENDED', 'INSTANCE', 'PID', 'EXIT', 'REASON', 'UPTIME'],
    [...exits].reverse().map((e) => [
      `${e.endedAt} (${duration(Math.max(0, now - Date.parse(e.endedAt)))} ago)`,
      e.instance ?? '-',
      e.pid === null ? '-' : String(e.pid),
      e.reason === 'spawn-failed' ? `${e.error?.code ?? '?'} at ${e.error?.stage ?? '?'}` : e.signal !== null ? `${e.signal}${e.coreDumped ? ' (core dumped)' : ''}` : `code ${e.code}`,
      e.reason,
      duration(e.uptimeMs),
    ]),
  );
}

const indent = (text: string): string =>
  text
    .split('\n')
    .map((line) => (line === '' ? line : `  ${line}`))
    .join('\n');

export const showCommand: Command = {
  name: 'show',
  summary: 'Show one process in full: state and why, instance, definition (YAML), the processes of its tree now, and its last exits.',
  usage: 'show ID|NAME [--json]',
  details: `The tree is read from /proc now: the instance's cgroup (cgroup kill mode), the process
group the main process leads (group), or the main process and its descendants (process).
Environment values are hidden (names only); the last 20 exits are kept, newest first here.`,
  options: {},
  client: true,
  async run(context) {
    const target = requireTarget(context);
    const body = await context.client.inspect(target);
    if (context.json) {
      context.out(JSON.stringify(body, null, 2));
      return EXIT.ok;
    }
    const now = Date.now();
    const tree = treeLines(body.tree);
    context.out(
      [
        processDetails(body.process, now, stdoutPalette()),
        '',
        'definition:',
        indent(stringify(body.spec).trimEnd()),
        '',
        `processes (${body.process.killMode} mode):`,
        tree.length === 0 ? '  none' : indent(tree.join('\n')),
        '',
        `last exits (${body.exits.length}):`,
        body.exits.length === 0 ? '  none' : indent(exitTable(body.exits, now)),
      ].join('\n'),
    );
    return EXIT.ok;
  },
};
