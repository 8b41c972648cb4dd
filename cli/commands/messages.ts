import type { Command } from 'commander';
import type { SinkMessage } from '../../core/index.ts';
import { client } from '../config.ts';
import { CliError } from '../errors.ts';
import { age, formatRows } from '../printers.ts';
import { DEFAULT_PROJECT } from '../../core/index.ts';

interface Conn {
  server?: string;
  token?: string;
}

const PAYLOAD_WIDTH = 80;

/** messages: what a route's table sink holds (GET /api/v1/routes/R/messages?project=P). */
export function registerMessageCommands(program: Command): void {
  program
    .command('messages')
    .description("print the messages in a route's table sink, newest last")
    .argument('<route>')
    .option('-p, --project <project>', 'project', DEFAULT_PROJECT)
    .option('--device <device>', 'only messages from this device')
    .option('--after <id>', 'the messages after this id, oldest first (0: from the oldest); default: the newest', count)
    .option('--limit <n>', 'at most this many (1-1000)', count, 100)
    .option('-o, --output <format>', 'table | json', 'table')
    .action(async (route: string, o: { project: string; device?: string; after?: number; limit: number; output: string }, cmd: Command) => {
      if (o.output !== 'table' && o.output !== 'json') throw new CliError(`unknown output format "${o.output}" (table | json)`);
      const body = await client(cmd.optsWithGlobals<Conn>()).messages(o.project, route, { after: o.after, limit: o.limit, device: o.device });
      if (o.output === 'json') {
        console.log(JSON.stringify(body, null, 2));
        return;
      }
      if (!body.items.length) {
        console.log('No messages found.');
        return;
      }
      const rows = body.items.map((m) => [String(m.id), age(m.at), m.node, m.device ?? '', m.topic, preview(m)]);
      console.log(formatRows([['ID', 'AGE', 'NODE', 'DEVICE', 'TOPIC', 'PAYLOAD'], ...rows]));
      if (o.after !== undefined && body.items.length === o.limit) console.error(`more: --after ${body.next}`);
    });
}

function count(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new CliError(`expected a whole number, got "${v}"`);
  return n;
}

function preview(m: SinkMessage): string {
  // Control characters (newlines, escapes) would break the table and the terminal: show them escaped.
  const text = m.encoding === 'utf8' ? m.payload.replace(/\p{Cc}/gu, (c) => JSON.stringify(c).slice(1, -1)) : `base64:${m.payload}`;
  return text.length > PAYLOAD_WIDTH ? `${text.slice(0, PAYLOAD_WIDTH - 1)}…` : text;
}
