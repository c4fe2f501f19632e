// `pidvisor import FILE`: a supervisord, PM2 or process-compose configuration as a pidvisor
// config file. Runs no daemon; a PM2 ecosystem .js file is the user's own code, run in a child
// Node process as PM2 would (import/pm2/load.ts).
import { EXIT, UsageError, type Command } from '../command.js';

export const importCommand: Command = {
  name: 'import',
  summary: 'Print the pidvisor config equivalent to a supervisord, PM2 or process-compose file, and what did not carry over',
  usage: 'import FILE [--from supervisord|pm2|process-compose] [--env NAME] [--json]',
  details: `Reads FILE as its own tool does and prints the equivalent pidvisor config (YAML) on
stdout; every setting that has no equivalent, or that pidvisor runs differently, is
listed on stderr with where it was set and why (and at the end of the YAML, as comments).
Nothing is started and no daemon is needed: check the result with
\`pidvisor check --config FILE\`, then load it with \`pidvisor daemon --config FILE\`.

  supervisord      an INI file ([program:x], [group:x], [include] files are read, %(here)s,
                   %(ENV_X)s and %(process_num)s are expanded, numprocs gives one service per
                   process); detected by its sections
  pm2              an ecosystem file (*.config.js, *.config.cjs, *.config.mjs, *.json, *.yaml);
                   a JavaScript one is run with Node, as PM2 runs it: it is your code; relative
                   cwd and script paths resolve against the current directory, as with pm2 start
  process-compose  a process-compose.yaml; variables ($NAME, \${NAME:-default}) are substituted
                   from ./.env and the environment, as process-compose does; readiness_probe,
                   liveness_probe and ready_log_line become readiness and liveness probes,
                   depends_on becomes dependsOn

Values read from the environment (%(ENV_X)s, $NAME, process.env in an ecosystem file) are
taken from the environment this command runs in, now.

Options:
  --from FORMAT       supervisord, pm2 or process-compose, instead of detecting it
  --env NAME          PM2: merge the apps' env_NAME over env (as pm2 start --env NAME)
  --json              print {format, file, config, notes} as JSON on stdout instead

Exit 0 when the file was read (even with settings left out), 1 when the file is refused
(with the reason its own tool would give), 2 on a usage error.`,
  options: { from: { type: 'string' }, env: { type: 'string' }, json: { type: 'boolean' } },
  client: false,
  async run(context) {
    const [file, ...extra] = context.positionals;
    if (file === undefined) throw new UsageError('missing FILE');
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    const { FORMATS, ImportError, importFile } = await import('../../../import/index.js');
    const from = context.values.from as string | undefined;
    if (from !== undefined && !(FORMATS as readonly string[]).includes(from)) throw new UsageError(`--from must be one of ${FORMATS.join(', ')}`);
    const envName = context.values.env as string | undefined;
    const { renderConfig, noteLine } = await import('../../../import/render.js');
    let result;
    try {
      result = importFile(file, { ...(from === undefined ? {} : { from: from as (typeof FORMATS)[number] }), ...(envName === undefined ? {} : { envName }) });
    } catch (error) {
      if (!(error instanceof ImportError)) throw error;
      process.stderr.write(`pidvisor import: ${error.message}\n`);
      return EXIT.failed;
    }
    if (context.json) {
      const services = Object.fromEntries(result.services.map((service) => [service.name, service.spec]));
      context.out(JSON.stringify({ format: result.format, file: result.file, config: { services }, notes: result.notes }, null, 2));
      return EXIT.ok;
    }
    process.stdout.write(renderConfig(result));
    if (result.notes.length > 0) {
      process.stderr.write(`pidvisor import: ${result.services.length} service(s) from ${result.format}; ${result.notes.length} setting(s) not carried over as they were:\n${result.notes.map((note) => `  ${noteLine(note)}`).join('\n')}\n`);
    }
    return EXIT.ok;
  },
};
