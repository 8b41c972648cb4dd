import type { Command } from 'commander';
import { ApiClient, SINCE_HELP, parseSince } from '../../core/index.ts';
import { client, saveConfig } from '../config.ts';
import { CliError } from '../errors.ts';
import { formatRows, age } from '../printers.ts';

interface Conn {
  server?: string;
  token?: string;
}

const collect = (value: string, prev: string[]): string[] => [...prev, value];

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

  const token = program.command('token').description('manage join, admin and user tokens');
  token
    .command('create')
    .description('issue a single-use join token for a new node (or --kind admin, --kind user --project P for one or more projects, or --kind metrics for a scraper)')
    .option('--site <site>', 'the site the joining node belongs to')
    .option('--ttl <seconds>', 'lifetime (default: an hour for a join token, until deleted for the others)')
    .option('--kind <kind>', 'join | admin | user | metrics', 'join')
    .option('--project <project>', 'user tokens: a project it may use (repeat for more)', collect, [])
    .option('--description <text>', '', '')
    .action(async (o: { site?: string; ttl?: string; kind: 'join' | 'admin' | 'user' | 'metrics'; project: string[]; description: string }, cmd: Command) => {
      const projects = o.project.length ? o.project : undefined;
      const ttlSeconds = o.ttl === undefined ? undefined : Number(o.ttl);
      if (ttlSeconds !== undefined && !Number.isInteger(ttlSeconds)) throw new CliError(`--ttl: expected whole seconds, got "${o.ttl}"`);
      const t = await client(cmd.optsWithGlobals<Conn>()).createToken({ kind: o.kind, site: o.site, projects, ttlSeconds, description: o.description });
      console.log(t.token);
      if (t.expiresAt) console.error(`expires ${t.expiresAt}${o.kind === 'join' ? '; single use' : ''}`);
    });
  token
    .command('list')
    .description('list tokens (secrets are never shown)')
    .action(async (_o: unknown, cmd: Command) => {
      const items = await client(cmd.optsWithGlobals<Conn>()).listTokens();
      console.log(formatRows([['ID', 'KIND', 'SUBJECT', 'PROJECTS', 'AGE', 'EXPIRES', 'USED'], ...items.map((t) => [t.id, t.kind, t.subject ?? '', t.projects?.join(',') ?? '', age(t.createdAt), t.expiresAt ?? 'never', t.usedAt ? 'yes' : 'no'])]));
    });

  program
    .command('logs')
    .description("print an instance's logs, streamed from its edge agent")
    .argument('<instance>')
    .option('-p, --project <project>')
    .option('-f, --follow', 'keep streaming new output')
    .option('--tail <bytes>', 'start this many bytes before the end (default 65536; with --since: no limit)')
    .option('--since <when>', `only output written since then: ${SINCE_HELP} (to one second)`)
    .action(async (name: string, o: { project?: string; follow?: boolean; tail?: string; since?: string }, cmd: Command) => {
      if (o.since !== undefined && parseSince(o.since) === undefined) throw new CliError(`--since: expected ${SINCE_HELP}, got "${o.since}"`);
      const tailBytes = o.tail !== undefined ? Number(o.tail) : o.since !== undefined ? 0 : 65536;
      if (!Number.isInteger(tailBytes) || tailBytes < 0) throw new CliError(`--tail: expected a number of bytes, got "${o.tail}"`);
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      for await (const chunk of client(cmd.optsWithGlobals<Conn>()).logs(name, { project: o.project, follow: !!o.follow, tailBytes, since: o.since, signal: ac.signal })) {
        process.stdout.write(chunk);
      }
    });
}
