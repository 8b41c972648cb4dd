import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { ApiClient, SINCE_HELP, parseSince } from '../../core/index.ts';
import { fetchPinnedCa, parsePin } from '../../core/ca-pin.ts';
import { client, contextName, saveContext } from '../config.ts';
import { CliError } from '../errors.ts';
import { formatRows, age } from '../printers.ts';
import { durationTextFlag } from '../durations.ts';

interface Conn {
  server?: string;
  token?: string;
}

const collect = (value: string, prev: string[]): string[] => [...prev, value];

/** login, token create|list, logs. */
export function registerAccessCommands(program: Command): void {
  program
    .command('login')
    .description("store the center URL, a token and the center's CA as a context in ~/.gedge/config (or $GEDGE_CONFIG), and make it the current one")
    .option('--server <url>', 'center URL, e.g. https://center.example:7380 (or the loopback http://127.0.0.1:PORT)')
    .option('--token <token>', 'an admin or user token')
    .addOption(new Option('--ca-pin <sha256:hex>', "https: the pin of the center's CA (the center logs it as caPin; gedge token create prints it)").env('GEDGE_CA_PIN'))
    .action(async (_o: unknown, cmd: Command) => {
      // --server and --token are also the program's own options: wherever they are given, they arrive here.
      const o = cmd.optsWithGlobals<{ server?: string; token?: string; caPin?: string; caFile?: string; context?: string }>();
      if (!o.server) throw new CliError('--server: required (the center URL)');
      if (!o.token) throw new CliError('--token: required (an admin or user token)');
      let ca: string | undefined;
      if (o.server.startsWith('https:')) {
        if (o.caFile) ca = readFileSync(o.caFile, 'utf8');
        else if (o.caPin) ca = await fetchPinnedCa(o.server, parsePin(o.caPin, '--ca-pin'));
        else throw new CliError('--ca-pin: required for an https:// server (the center logs it as caPin at start; gedge token create prints it), or --ca-file');
      }
      // Check before saving, so a typo does not lock the user out of the other commands.
      await new ApiClient(o.server, o.token, ca).list('Project');
      const name = o.context ?? contextName(o.server);
      console.log(`logged in to ${o.server} as context "${name}"; config written to ${saveContext(name, { server: o.server, token: o.token, ca })}`);
    });

  const token = program.command('token').description('manage join, admin and user tokens');
  token
    .command('create')
    .description('issue a single-use join token for a new node (or --kind admin, --kind user --project P for one or more projects, or --kind metrics for a scraper)')
    .option('--site <site>', 'the site the joining node belongs to')
    .option('--ttl <duration>', 'lifetime, e.g. 1h or 30d (default: an hour for a join token, until deleted for the others)', durationTextFlag('--ttl'))
    .option('--kind <kind>', 'join | admin | user | metrics', 'join')
    .option('--project <project>', 'user tokens: a project it may use (repeat for more)', collect, [])
    .option('--description <text>', '', '')
    .action(async (o: { site?: string; ttl?: string; kind: 'join' | 'admin' | 'user' | 'metrics'; project: string[]; description: string }, cmd: Command) => {
      const projects = o.project.length ? o.project : undefined;
      const t = await client(cmd.optsWithGlobals<Conn>()).createToken({ kind: o.kind, site: o.site, projects, ttl: o.ttl, description: o.description });
      console.log(t.token);
      if (t.expiresAt) console.error(`expires ${t.expiresAt}${o.kind === 'join' ? '; single use' : ''}`);
      if (t.caPin) console.error(`CA pin: ${t.caPin}\njoin with: GEDGE_JOIN_TOKEN=<the token> GEDGE_CA_PIN=${t.caPin} gedge agent --center <https URL> --data-dir <dir>`);
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
