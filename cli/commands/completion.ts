import type { Command, Option } from 'commander';
import { KINDS, lookupKind } from '../../core/index.ts';
import { client, readConfig } from '../config.ts';
import { CliError } from '../errors.ts';

/**
 * Shell completion, as kubectl's: `gedge completion bash|zsh|fish` prints a
 * script that asks `gedge __complete -- WORDS...` for the candidates of the
 * last (partial) word. Commands and flags come from the command tree itself;
 * kinds from core's list; object names from the center of the current
 * context (or --server/--token/--context on the line), best effort: no
 * answer within a second means no names.
 */
export function registerCompletionCommands(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: source <(gedge completion bash), or zsh / fish')
    .argument('<shell>', 'bash | zsh | fish')
    .action((shell: string) => {
      const script = SCRIPTS[shell];
      if (!script) throw new CliError(`completion: unknown shell "${shell}" (bash, zsh or fish)`);
      process.stdout.write(script);
    });
  program
    .command('__complete', { hidden: true })
    .argument('[words...]')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (words: string[]) => {
      const out = await candidates(program, words.length ? words : ['']);
      if (out.length) process.stdout.write(`${out.join('\n')}\n`);
    });
}

const BASH = `# gedge completion for bash: source <(gedge completion bash)
_gedge() {
  local IFS=$'\\n'
  COMPREPLY=( $(gedge __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) )
}
complete -o default -F _gedge gedge
`;
const SCRIPTS: Record<string, string> = {
  bash: BASH,
  zsh: `# gedge completion for zsh: source <(gedge completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n${BASH}`,
  fish: `# gedge completion for fish: gedge completion fish | source\ncomplete -c gedge -f -a '(gedge __complete -- (commandline -opc)[2..-1] (commandline -ct))'\n`,
};

/** Commands whose first argument is a kind and second a name of that kind. */
const BY_KIND = new Set(['get', 'describe', 'delete']);
/** Commands whose first argument names an object of one kind. */
const BY_NAME: Record<string, string> = { logs: 'Instance', exec: 'Instance', 'rollout status': 'Service', 'rollout history': 'Service', 'rollout undo': 'Service', 'rollout pause': 'Service', 'rollout resume': 'Service' };

/** The candidates for the last word, given the words before it (the command line without "gedge"). */
export async function candidates(program: Command, words: string[]): Promise<string[]> {
  const current = words.at(-1)!;
  let cmd = program;
  const args: string[] = [];
  const given: Record<string, string> = {};
  for (let i = 0; i < words.length - 1; i++) {
    const w = words[i]!;
    if (w.startsWith('-')) {
      const opt = optionOf(cmd, w.split('=')[0]!) ?? optionOf(program, w.split('=')[0]!);
      if (opt && (opt.required || opt.optional) && !w.includes('=')) given[opt.attributeName()] = words[++i] ?? '';
      continue;
    }
    const sub = args.length ? undefined : cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (sub) cmd = sub;
    else args.push(w);
  }
  const matching = (list: Iterable<string>) => [...new Set(list)].filter((c) => c.startsWith(current)).sort();
  if (current.startsWith('-')) return matching([...cmd.options, ...program.options].filter((o) => !o.hidden).flatMap((o) => [o.long, o.short]).filter((f): f is string => f !== undefined));
  const visible = program.createHelp().visibleCommands(cmd);
  if (visible.length && !args.length) return matching(visible.map((c) => c.name()));
  const name = cmd.name();
  const path = [...ancestry(cmd)].join(' ');
  if (BY_KIND.has(name) && args.length === 0) return matching(Object.values(KINDS).map((k) => k.plural));
  if (name === 'use-context' || name === 'delete-context') return matching(Object.keys(safeConfig()));
  const kind = BY_KIND.has(name) && args.length === 1 ? lookupKind(args[0]!)?.kind : !args.length ? BY_NAME[path] : undefined;
  return kind ? matching(await names(kind, given)) : [];
}

/** A command's names from below the program down to it: ['rollout', 'undo']. */
function* ancestry(cmd: Command): Generator<string> {
  if (cmd.parent?.parent) yield* ancestry(cmd.parent);
  if (cmd.parent) yield cmd.name();
}

function optionOf(cmd: Command, flag: string): Option | undefined {
  return cmd.options.find((o) => o.long === flag || o.short === flag);
}

function safeConfig(): Record<string, unknown> {
  try {
    return readConfig().contexts;
  } catch {
    return {};
  }
}

/** Names of objects of a kind on the center, within a second, or none. */
async function names(kind: string, given: Record<string, string>): Promise<string[]> {
  try {
    const api = client({ server: given.server, token: given.token, caFile: given.caFile, context: given.context });
    const signal = AbortSignal.timeout(1000);
    const list = await Promise.race([api.list(kind, { project: given.project }), new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))]);
    return list.items.map((o) => o.metadata.name);
  } catch {
    return [];
  }
}
