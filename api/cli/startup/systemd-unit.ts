// The systemd unit that starts pidvisor at boot: contrib/systemd/pidvisor.service is this
// text with the defaults (test/contrib/systemd-unit.test.ts keeps the two equal), and
// `pidvisor startup systemd` prints it with the paths of the pidvisor that runs it.
//
// Why each setting (README: Start at boot):
// - Type=notify: the main process is pidvisor-keeper, which sends READY=1 once the daemon
//   serves its API (and STOPPING=1), so units ordered after pidvisor find it answering.
//   NotifyAccess=main: nothing else may speak for the unit (the keeper keeps NOTIFY_SOCKET
//   from the daemon and every service).
// - KillMode=process: `systemctl stop` sends SIGTERM to the keeper alone, and the daemon stops
//   each service its own way (stop signal, timeout, process group or cgroup). Should the keeper
//   itself die, systemd leaves the services running and the daemon it restarts takes them over
//   from the state dir; with control-group or mixed, systemd would kill them all first.
// - Delegate=yes: the daemon makes a cgroup per service instance, inside the unit's own cgroup
//   (--cgroup-name), which systemd then leaves to it.
// - No sandboxing by default: every namespace, capability bound, seccomp filter or
//   NoNewPrivileges on the unit applies to every supervised service too (they inherit them).
//   The commented options are those a host may enable when its services allow them;
//   ProtectControlGroups is not among them (kill mode cgroup writes to /sys/fs/cgroup).

export interface UnitOptions {
  /** The program and its first arguments: ['/usr/local/bin/pidvisor'], or [node, script]. */
  command: string[];
  /** The unit's name, without .service: its cgroup is system.slice/NAME.service. */
  name: string;
  configFile: string;
  /** Passed on only when given (the daemon's defaults: /var/lib/pidvisor, /run/pidvisor/pidvisor.sock). */
  stateDir?: string;
  socket?: string;
}

export const UNIT_DEFAULTS: UnitOptions = { command: ['/usr/local/bin/pidvisor'], name: 'pidvisor', configFile: '/etc/pidvisor/pidvisor.yaml' };

/** Sandboxing that also confines every service; each line is enabled by removing its `#`. */
export const OPTIONAL_HARDENING = [
  'ProtectSystem=full',
  'ProtectHome=read-only',
  'PrivateTmp=yes',
  'NoNewPrivileges=yes',
  'ProtectKernelModules=yes',
  'ProtectKernelLogs=yes',
  'ProtectClock=yes',
  'RestrictRealtime=yes',
  'LockPersonality=yes',
];

/** One ExecStart= word: as is when plain, else double-quoted; `%` and `$` escaped (specifiers, variables). */
export function unitWord(word: string): string {
  const escaped = word.replaceAll('%', '%%').replaceAll('$', '$$$$');
  return /^[A-Za-z0-9_@%+=:,./$-]+$/.test(escaped) ? escaped : `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

export function systemdUnit(options: UnitOptions): string {
  const program = options.command.map(unitWord).join(' ');
  const daemonArgs = [
    'daemon',
    '--config',
    options.configFile,
    '--cgroup-name',
    `system.slice/${options.name}.service/services`,
    ...(options.stateDir === undefined ? [] : ['--state-dir', options.stateDir]),
    ...(options.socket === undefined ? [] : ['--socket', options.socket]),
  ];
  const reloadArgs = ['reload', ...(options.socket === undefined ? [] : ['--socket', options.socket])];
  return `# ${options.name}.service: pidvisor at boot. Printed by \`pidvisor startup systemd\`, which also
# installs it (--install); README: Start at boot.
[Unit]
Description=pidvisor process supervisor
After=network.target

[Service]
# The main process is pidvisor-keeper: READY=1 once the daemon serves its API; only it may notify.
Type=notify
NotifyAccess=main
ExecStart=${program} ${daemonArgs.map(unitWord).join(' ')}
# Re-reads the config file; fails, changing nothing, when the file is refused.
ExecReload=${program} ${reloadArgs.map(unitWord).join(' ')}
# SIGTERM to the keeper alone: pidvisor stops every service its own way. If the keeper dies,
# the services keep running and the restarted daemon takes them over.
KillMode=process
# Room for the services' own stop timeouts (stopTimeoutMs); raise it for longer ones.
TimeoutStopSec=5min
Restart=on-failure
RestartSec=1s
# A cgroup per service instance, under this unit's own (--cgroup-name above).
Delegate=yes
# pidfds, pipes and cgroup fds for every service; no cap on the number of processes.
LimitNOFILE=65536
TasksMax=infinity
# Sandboxing here confines every supervised service too: enable what your services allow.
${OPTIONAL_HARDENING.map((line) => `#${line}`).join('\n')}

[Install]
WantedBy=multi-user.target
`;
}
