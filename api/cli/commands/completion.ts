// `pidvisor completion bash|zsh|fish`: a script that completes the commands and each one's
// options, generated from the commands themselves so it cannot fall behind them.
import { EXIT, UsageError, requireTarget, type Command } from '../command.js';

export interface CompletionEntry {
  name: string;
  summary: string;
  /** Its long options, without the dashes (`--help` included). */
  options: string[];
}

const quote = (text: string): string => `'${text.replace(/'/g, "'\\''")}'`;

function bash(entries: CompletionEntry[]): string {
  const cases = entries.map((e) => `    ${e.name}) opts=${quote(e.options.map((o) => `--${o}`).join(' '))} ;;`).join('\n');
  return `# pidvisor completion for bash: eval "$(pidvisor completion bash)"
_pidvisor() {
  local cur=\${COMP_WORDS[COMP_CWORD]} opts
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W ${quote(entries.map((e) => e.name).join(' '))} -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
    *) opts='' ;;
  esac
  case "$cur" in
    -*) COMPREPLY=($(compgen -W "$opts" -- "$cur")) ;;
    *) COMPREPLY=() ;;
  esac
}
complete -o default -F _pidvisor pidvisor
`;
}

function zsh(entries: CompletionEntry[]): string {
  const commands = entries.map((e) => `    ${quote(`${e.name}:${e.summary.replace(/:/g, '\\:')}`)}`).join('\n');
  const cases = entries.map((e) => `      ${e.name}) _arguments ${e.options.map((o) => quote(`--${o}`)).join(' ')} '*:file:_files' ;;`).join('\n');
  return `#compdef pidvisor
# pidvisor completion for zsh: pidvisor completion zsh > "\${fpath[1]}/_pidvisor"
_pidvisor() {
  local -a commands
  commands=(
${commands}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case $words[2] in
${cases}
  esac
}
compdef _pidvisor pidvisor
`;
}

function fish(entries: CompletionEntry[]): string {
  const lines = ['# pidvisor completion for fish: pidvisor completion fish > ~/.config/fish/completions/pidvisor.fish', 'complete -c pidvisor -f'];
  for (const e of entries) lines.push(`complete -c pidvisor -n __fish_use_subcommand -a ${e.name} -d ${quote(e.summary)}`);
  for (const e of entries) for (const o of e.options) lines.push(`complete -c pidvisor -n ${quote(`__fish_seen_subcommand_from ${e.name}`)} -l ${o}`);
  return `${lines.join('\n')}\n`;
}

const SHELLS = { bash, zsh, fish } as const;

/** The completion command, for the commands of main.ts (given, as they are loaded there). */
export function completionCommand(entries: () => Promise<CompletionEntry[]>): Command {
  return {
    name: 'completion',
    summary: 'Print a shell completion script for bash, zsh or fish.',
    usage: 'completion bash|zsh|fish',
    details: `  bash:  eval "$(pidvisor completion bash)"   (in ~/.bashrc)
  zsh:   pidvisor completion zsh > "\${fpath[1]}/_pidvisor"
  fish:  pidvisor completion fish > ~/.config/fish/completions/pidvisor.fish`,
    options: {},
    client: false,
    async run(context) {
      const shell = requireTarget(context, 'a shell: bash, zsh or fish');
      if (!(shell in SHELLS)) throw new UsageError(`completion is for bash, zsh or fish, not ${JSON.stringify(shell)}`);
      context.out(SHELLS[shell as keyof typeof SHELLS](await entries()).trimEnd());
      return EXIT.ok;
    },
  };
}
