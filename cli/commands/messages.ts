import type { Command } from 'commander';
import { errorFromBody } from '../../core/index.ts';
import { client } from '../config.ts';
import { CliError } from '../errors.ts';
import { age, formatRows } from '../printers.ts';

interface Conn {
  server?: string;
  token?: string;
}
interface MessagesPage {
  items: { id: number; node: string; seq: number; topic: string; device?: string; at: string; payload: string; encoding: 'utf8' | 'base64' }[];
  next: number;
}

const PAYLOAD_WIDTH = 80;

/** messages: what a route's table sink holds (GET /api/v1/projects/P/routes/R/messages). */
export function registerMessageCommands(program: Command): void {
  program
    .command('messages')
    .description("print the messages in a route's table sink, newest last")
    .argument('<route>')
    .option('-p, --project <project>', 'project', 'default')
    .option('--device <device>', 'only messages from this device')
    .option('--after <id>', 'the messages after this id, oldest first (0: from the oldest); default: the newest')
    .option('--limit <n>', 'at most this many (1-1000)', '100')
    .option('-o, --output <format>', 'table | json', 'table')
    .action(async (route: string, o: { project: string; device?: string; after?: string; limit: string; output: string }, cmd: Command) => {
      if (o.output !== 'table' && o.output !== 'json') throw new CliError(`unknown output format "${o.output}" (table | json)`);
      const q = new URLSearchParams({ limit: o.limit });
      if (o.device) q.set('device', o.device);
      if (o.after !== undefined) q.set('after', o.after);
      const res = await client(cmd.optsWithGlobals<Conn>()).raw('GET', `/api/v1/projects/${encodeURIComponent(o.project)}/routes/${encodeURIComponent(route)}/messages?${q}`);
      const body = (await res.json().catch(() => ({}))) as MessagesPage & { code?: string; message?: string };
      if (!res.ok) throw errorFromBody(res.status, body);
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
      if (o.after !== undefined && body.items.length === Number(o.limit)) console.error(`more: --after ${body.next}`);
    });
}

function preview(m: MessagesPage['items'][number]): string {
  // Control characters (newlines, escapes) would break the table and the terminal: show them escaped.
  const text = m.encoding === 'utf8' ? m.payload.replace(/\p{Cc}/gu, (c) => JSON.stringify(c).slice(1, -1)) : `base64:${m.payload}`;
  return text.length > PAYLOAD_WIDTH ? `${text.slice(0, PAYLOAD_WIDTH - 1)}…` : text;
}
