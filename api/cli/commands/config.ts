// Commands on the config file: `check` validates one without any daemon, `reload` makes the
// daemon re-read its own and says what changed.
import { ApiError } from '../client.js';
import { EXIT, UsageError, type Command } from '../command.js';
import type { ConfigChanges, ConfigProblem } from '../../../client/index.js';

type Problem = Pick<ConfigProblem, 'path' | 'line' | 'column' | 'message'>;

function problemLines(file: string, problems: readonly Problem[]): string[] {
  return problems.map((p) => `  ${p.line === null ? file : `${file}:${p.line}:${p.column}`}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`);
}

function changeLines(changes: ConfigChanges): string[] {
  const counts = `${changes.added.length} added, ${changes.changed.length} changed, ${changes.removed.length} removed, ${changes.unchanged.length} unchanged`;
  const row = (label: string, names: string[]): string[] => (names.length === 0 ? [] : [`  ${label.padEnd(10)}${names.join(', ')}`]);
  return [
    `config applied: ${counts}`,
    ...row('added', changes.added),
    ...row('changed', changes.changed.map((c) => `${c.name} (${c.fields.join(', ')})`)),
    ...row('removed', changes.removed),
    ...row('unchanged', changes.unchanged),
  ];
}

const reload: Command = {
  name: 'reload',
  summary: 'Make the daemon re-read its config file (as SIGHUP does) and print what changed, or why the file was refused.',
  usage: 'reload [--json]',
  details: `A file with any problem is refused whole and nothing changes; each problem is printed
with its line, field and what is allowed there. Changed services keep their id, history and
logs (restarted if they were running); added ones start; removed ones stop and are forgotten.
Exit 0 when applied, 1 when refused or the daemon has no config file.`,
  options: {},
  client: true,
  async run(context) {
    if (context.positionals.length > 0) throw new UsageError(`unexpected arguments: ${context.positionals.join(' ')}`);
    try {
      const body = await context.client.reloadConfig();
      context.out(context.json ? JSON.stringify(body, null, 2) : changeLines(body).join('\n'));
      return EXIT.ok;
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== 'PIDVISOR_ERR_CONFIG_INVALID' || context.json) throw error;
      const file = String(error.problem.file ?? 'config');
      process.stderr.write(`pidvisor reload: ${file} refused; nothing was changed (${error.code}):\n${problemLines(file, (error.problem.problems as Problem[] | undefined) ?? []).join('\n')}\n`);
      return EXIT.failed;
    }
  },
};

const check: Command = {
  name: 'check',
  summary: 'Validate a config file without loading it: exit 0 when a daemon would take it, 1 with every problem.',
  usage: 'check --config FILE [--json]',
  details: `Checks the YAML, the schema of every service, and what this host must have: the users
and groups named, signal names, the cgroup v2 mount for killMode cgroup; and that every
dependsOn names an entry of the file and no dependencies form a cycle. Each problem names
its line and column, its field (services.web.restart.policy) and what is allowed there.
No daemon is needed and nothing is started.

Options:
  --config FILE       the file to check
  --json              print {file, ok, services, problems} as JSON`,
  options: { config: { type: 'string' }, json: { type: 'boolean' } },
  client: false,
  async run(context) {
    const file = context.values.config as string | undefined;
    if (file === undefined) throw new UsageError('missing --config FILE');
    if (context.positionals.length > 0) throw new UsageError(`unexpected arguments: ${context.positionals.join(' ')}`);
    const json = context.values.json === true;
    const { checkConfigFile } = await import('../../../daemon/config-check.js');
    const result = checkConfigFile(file);
    if (json) context.out(JSON.stringify(result, null, 2));
    else if (result.ok) context.out(`${file}: ok, ${result.services.length} service${result.services.length === 1 ? '' : 's'}${result.services.length === 0 ? '' : `: ${result.services.join(', ')}`}`);
    else process.stderr.write(`pidvisor check: ${file} refused:\n${problemLines(file, result.problems).join('\n')}\n`);
    return result.ok ? EXIT.ok : EXIT.failed;
  },
};

export const configCommands: Command[] = [reload, check];
