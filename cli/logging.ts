import { Option } from 'commander';
import { pino, type Logger } from 'pino';

/**
 * How `gedge center` and `gedge agent` write their log: JSON lines (one object
 * a line, for collectors and `jq`), or pino-pretty's coloured lines for a
 * person at a terminal. `auto`, the default: pretty when stdout is a
 * terminal, JSON otherwise (a supervisor's pipe or file, `gedge up`'s logs).
 */
export const logFormatOption = (): Option =>
  new Option('--log-format <format>', 'json lines, or pretty for a person; auto: pretty on a terminal').choices(['auto', 'json', 'pretty']).default('auto');

export async function processLogger(part: 'center' | 'agent', level: string, format: string): Promise<Logger> {
  const opts = { level, base: { part } };
  if (format === 'json' || (format === 'auto' && !process.stdout.isTTY)) return pino(opts);
  // Loaded only for a terminal; synchronous, so the last lines before an exit are not lost.
  const { default: pretty } = await import('pino-pretty');
  return pino(opts, pretty({ sync: true, colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
}
