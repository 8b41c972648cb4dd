import type { Command } from 'commander';
import { configPath, configWith, readConfig, writeConfig } from '../config.ts';
import { CliError } from '../errors.ts';
import { formatRows } from '../printers.ts';

/** gedge config get-contexts | current-context | use-context NAME | delete-context NAME: several centers, as kubectl's contexts. */
export function registerContextCommands(program: Command): void {
  const config = program.command('config').description(`the contexts gedge login saved (${configPath()}): a center, a token and its CA each`);
  config
    .command('get-contexts')
    .description('list the contexts; * marks the current one')
    .action(() => {
      const cfg = readConfig();
      const names = Object.keys(cfg.contexts).sort();
      if (!names.length) return void console.error('No contexts: run gedge login.');
      console.log(formatRows([['CURRENT', 'NAME', 'SERVER'], ...names.map((n) => [n === cfg.current ? '*' : '', n, cfg.contexts[n]!.server])]));
    });
  config
    .command('current-context')
    .description('print the current context')
    .action(() => {
      const { current } = readConfig();
      if (current === undefined) throw new CliError('no current context: run gedge login');
      console.log(current);
    });
  config
    .command('use-context')
    .description('make a context the current one')
    .argument('<name>')
    .action((name: string) => {
      writeConfig({ ...configWith(name), current: name });
      console.log(`switched to context "${name}"`);
    });
  config
    .command('delete-context')
    .description('forget a context (its token with it)')
    .argument('<name>')
    .action((name: string) => {
      const cfg = configWith(name);
      const { [name]: _, ...rest } = cfg.contexts;
      writeConfig({ contexts: rest, ...(cfg.current !== name ? { current: cfg.current } : {}) });
      console.log(`deleted context "${name}"`);
    });
}
