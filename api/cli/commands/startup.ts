// `pidvisor startup systemd`: the unit that starts pidvisor at boot, printed, or installed
// with --install (as `pm2 startup` does). The unit runs this very pidvisor (node and script
// by their real paths), so an upgrade in place is picked up and no PATH lookup is involved.
import fs from 'node:fs';
import path from 'node:path';
import { systemdUnit, UNIT_DEFAULTS } from '../startup/systemd-unit.js';
import { EXIT, UsageError, type Command } from '../command.js';

export const startupCommand: Command = {
  name: 'startup',
  summary: 'Print (or install) the systemd unit that starts pidvisor at boot.',
  usage: 'startup systemd [--install] [--config FILE] [--state-dir DIR] [--socket PATH] [--name NAME] [--unit-dir DIR]',
  details: `The unit (also in contrib/systemd/pidvisor.service) is Type=notify: pidvisor-keeper says
READY=1 once the API answers. KillMode=process: systemd sends SIGTERM to the keeper alone and
pidvisor stops each service its own way; if the keeper dies, the services keep running and the
daemon systemd restarts takes them over. Delegate=yes, with the service cgroups under the
unit's own. ExecReload= runs \`pidvisor reload\`. README: Start at boot.

Options:
  --install           write the unit to UNIT-DIR/NAME.service instead of printing it; then
                      run \`systemctl daemon-reload && systemctl enable --now NAME.service\`
  --config FILE       the daemon's config file (default ${UNIT_DEFAULTS.configFile})
  --state-dir DIR     the daemon's state dir (default: the daemon's, /var/lib/pidvisor)
  --socket PATH       the API socket (default: the daemon's, /run/pidvisor/pidvisor.sock)
  --name NAME         the unit's name (default ${UNIT_DEFAULTS.name})
  --unit-dir DIR      where --install writes (default /etc/systemd/system)`,
  options: {
    install: { type: 'boolean' },
    config: { type: 'string' },
    'state-dir': { type: 'string' },
    socket: { type: 'string' },
    name: { type: 'string' },
    'unit-dir': { type: 'string' },
  },
  client: false,
  async run({ values, positionals, out }) {
    const [init, ...extra] = positionals;
    if (init !== 'systemd') throw new UsageError(init === undefined ? 'missing the init system: systemd' : `only systemd is supported, not ${JSON.stringify(init)}`);
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    const name = (values.name as string | undefined) ?? UNIT_DEFAULTS.name;
    if (!/^[A-Za-z0-9:_.\\-]{1,200}$/.test(name)) throw new UsageError(`--name takes a unit name (letters, digits, :_.-\\), not ${JSON.stringify(name)}`);
    const absolute = (option: string): string | undefined => {
      const value = values[option] as string | undefined;
      if (value !== undefined && !path.isAbsolute(value)) throw new UsageError(`--${option} takes an absolute path (systemd starts pidvisor in /), not ${JSON.stringify(value)}`);
      return value;
    };
    const configFile = absolute('config') ?? UNIT_DEFAULTS.configFile;
    const stateDir = absolute('state-dir');
    const socket = absolute('socket');
    const unit = systemdUnit({
      command: [process.execPath, fs.realpathSync(process.argv[1]!)],
      name,
      configFile,
      ...(stateDir === undefined ? {} : { stateDir }),
      ...(socket === undefined ? {} : { socket }),
    });
    if (values.install !== true) {
      out(unit.trimEnd());
      return EXIT.ok;
    }
    const file = path.join(absolute('unit-dir') ?? '/etc/systemd/system', `${name}.service`);
    fs.writeFileSync(file, unit, { mode: 0o644 });
    out(`wrote ${file}`);
    if (!fs.existsSync(configFile)) out(`${configFile} does not exist yet: write it (check it with \`pidvisor check --config ${configFile}\`) before starting`);
    out(`now run: systemctl daemon-reload && systemctl enable --now ${name}.service`);
    return EXIT.ok;
  },
};
