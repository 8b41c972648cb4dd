import type { Command } from 'commander';
import { ApiClient } from '../../core/index.ts';
import { client, saveConfig } from '../config.ts';
import { formatRows, age } from '../printers.ts';

interface Conn {
  server?: string;
  token?: string;
}

/** login, token create|list, logs. */
export function registerAccessCommands(program: Command): void {
  program
    .command('login')
    .description('store the center URL and a token in ~/.gedge/config (or $GEDGE_CONFIG)')
    .requiredOption('--server <url>', 'center URL, e.g. http://127.0.0.1:7380')
    .requiredOption('--token <token>', 'an admin token')
    .action(async (o: { server: string; token: string }) => {
      // Check before saving, so a typo does not lock the user out of the other commands.
      await new ApiClient(o.server, o.token).list('Project');
      console.log(`logged in to ${o.server}; config written to ${saveConfig(o)}`);
    });

  const token = program.command('token').description('manage join and admin tokens');
  token
    .command('create')
    .description('issue a single-use join token for a new node (or --kind admin)')
    .option('--site <site>', 'the site the joining node belongs to')
    .option('--ttl <seconds>', 'lifetime of a join token', '3600')
    .option('--kind <kind>', 'join | admin', 'join')
    .option('--description <text>', '', '')
    .action(async (o: { site?: string; ttl: string; kind: 'join' | 'admin'; description: string }, cmd: Command) => {
      const t = await client(cmd.optsWithGlobals<Conn>()).createToken({ kind: o.kind, site: o.site, ttlSeconds: Number(o.ttl), description: o.description });
      console.log(t.token);
      if (t.expiresAt) console.error(`expires ${t.expiresAt}; single use`);
    });
  token
    .command('list')
    .description('list tokens (secrets are never shown)')
    .action(async (_o: unknown, cmd: Command) => {
      const items = await client(cmd.optsWithGlobals<Conn>()).listTokens();
      console.log(formatRows([['ID', 'KIND', 'SUBJECT', 'AGE', 'EXPIRES', 'USED'], ...items.map((t) => [t.id, t.kind, t.subject ?? '', age(t.createdAt), t.expiresAt ?? 'never', t.usedAt ? 'yes' : 'no'])]));
    });

  program
    .command('logs')
    .description("print an instance's logs, streamed from its edge agent")
    .argument('<instance>')
    .option('-p, --project <project>')
    .option('-f, --follow', 'keep streaming new output')
    .option('--tail <bytes>', 'start this many bytes before the end', '65536')
    .action(async (name: string, o: { project?: string; follow?: boolean; tail: string }, cmd: Command) => {
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      for await (const chunk of client(cmd.optsWithGlobals<Conn>()).logs(name, { project: o.project, follow: !!o.follow, tailBytes: Number(o.tail), signal: ac.signal })) {
        process.stdout.write(chunk);
      }
    });
}
