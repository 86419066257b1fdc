/**
 * `liveupdate completion bash|zsh`: a completion script made from the program itself (every command,
 * subcommand and flag program.ts declares), so it never lags behind it. zsh runs the bash function
 * through bashcompinit.
 */
import type { Command, Option } from 'commander';
import { LiveupdateError } from '../errors.js';
import { PATH_VALUE, type CommandContext } from './context.js';

/** What a flag's value completes to: a file or folder, one of a few words, or nothing known. */
function valueWords(o: Option): string {
  if (o.argChoices?.length) return o.argChoices.join(' ');
  if (PATH_VALUE.test(o.flags)) return '@files';
  return '';
}

const subcommands = (c: Command): Command[] => c.commands.filter((s) => s.name() !== 'help');

function commandPaths(c: Command, path: string[] = []): Array<{ path: string[]; command: Command }> {
  return [{ path, command: c }, ...subcommands(c).flatMap((s) => commandPaths(s, [...path, s.name()]))];
}

export function bashCompletion(program: Command, choices: Record<string, string[]> = {}): string {
  const cmds = commandPaths(program);
  const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
  const subs = cmds.map(
    ({ path, command }) =>
      `    ${q(path.join(' '))}) echo ${q(
        subcommands(command)
          .map((s) => s.name())
          .join(' '),
      )} ;;`,
  );
  const opts = cmds.map(
    ({ path, command }) =>
      `    ${q(path.join(' '))}) echo ${q([...command.options.filter((o) => !o.hidden).map((o) => o.long ?? o.short ?? ''), '--help'].filter(Boolean).join(' '))} ;;`,
  );
  const values = [
    ...new Map(
      cmds.flatMap(({ command }) =>
        command.options
          .filter((o) => o.required || o.optional)
          .map((o) => [o.long!, choices[o.long!]?.join(' ') ?? valueWords(o)] as const),
      ),
    ),
  ].map(([flag, words]) => `    ${q(flag)}) echo ${q(words)} ;;`);
  return `# liveupdate completion for bash (and zsh through bashcompinit): eval "$(liveupdate completion bash)"
_liveupdate_subcommands() {
  case "$1" in
${subs.join('\n')}
  esac
}
_liveupdate_flags() {
  case "$1" in
${opts.join('\n')}
  esac
}
_liveupdate_values() {
  case "$1" in
${values.join('\n')}
    *) echo '-' ;;
  esac
}
_liveupdate() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" i w values
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case " $(_liveupdate_subcommands "$path") " in *" $w "*) path="\${path:+$path }$w" ;; esac
  done
  values="$(_liveupdate_values "$prev")"
  if [[ "$prev" == --* && "$values" != "-" ]]; then
    if [[ "$values" == "@files" ]]; then COMPREPLY=($(compgen -f -- "$cur")); else COMPREPLY=($(compgen -W "$values" -- "$cur")); fi
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_liveupdate_flags "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(_liveupdate_subcommands "$path")" -- "$cur"))
    [[ \${#COMPREPLY[@]} -eq 0 ]] && COMPREPLY=($(compgen -f -- "$cur"))
  fi
  return 0
}
complete -o filenames -F _liveupdate liveupdate
`;
}

export function completion(program: Command, shell: string, choices: Record<string, string[]>, { out }: CommandContext): void {
  const script = bashCompletion(program, choices);
  if (shell === 'bash') return out.result(script, { type: 'completion', shell, script });
  if (shell === 'zsh') {
    const z = `# liveupdate completion for zsh: eval "$(liveupdate completion zsh)"\nautoload -U +X bashcompinit && bashcompinit\n${script}`;
    return out.result(z, { type: 'completion', shell, script: z });
  }
  throw new LiveupdateError('USAGE', `completion ${shell}: expected bash or zsh`);
}
