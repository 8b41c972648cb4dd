import type { Command } from 'commander';
import type { Service } from '../../core/index.ts';
import { client } from '../config.ts';
import { CliError } from '../errors.ts';
import { age, formatRows } from '../printers.ts';
import { durationFlag } from '../durations.ts';

interface Conn {
  server?: string;
  token?: string;
}


/** One line about where a rollout stands. */
export function rolloutLine(s: Service): string {
  const r = s.status?.rollout;
  if (!r) return `service "${s.metadata.name}" has no rollout yet`;
  const sites = r.sites.map((p) => `${p.site} ${p.updated}/${p.total}${p.done ? ' done' : ''}`).join(', ');
  const head = `revision ${r.revision}: ${r.phase}, ${r.updated} updated, ${r.ready}/${s.spec.replicas} ready`;
  return [head, sites && `sites: ${sites}`, r.message].filter(Boolean).join('; ');
}

/** gedge rollout status|history|undo|pause|resume SERVICE. */
export function registerRolloutCommands(program: Command): void {
  const rollout = program.command('rollout').description("manage a service's rollouts: status, history, undo, pause, resume");

  rollout
    .command('status')
    .description('follow the rollout until it completes (exit 0), fails or is rolled back (exit 1)')
    .argument('<service>')
    .option('-p, --project <project>')
    .option('--no-watch', 'print the current state once and exit')
    .option('--timeout <duration>', 'give up after this long (exit 1)', '10m')
    .action(async (name: string, o: { project?: string; watch: boolean; timeout: string }, cmd: Command) => {
      const api = client(cmd.optsWithGlobals<Conn>());
      const timeoutMs = durationFlag('--timeout')(o.timeout);
      const first = await api.get<Service>('Service', name, o.project);
      let last = rolloutLine(first);
      console.log(last);
      if (!o.watch || settled(first)) return finish(first);
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), timeoutMs);
      process.once('SIGINT', () => ac.abort());
      try {
        for await (const ev of api.watch('Service', { project: o.project, since: first.metadata.revision, signal: ac.signal })) {
          const s = ev.object as Service | undefined;
          if (!s || s.metadata.name !== name) continue;
          if (ev.type === 'DELETED') throw new CliError(`service "${name}" was deleted`);
          const line = rolloutLine(s);
          if (line !== last) console.log((last = line));
          if (settled(s)) return finish(s);
        }
      } finally {
        clearTimeout(timer);
      }
      throw new CliError(`rollout of "${name}" not finished after ${o.timeout}`);
    });

  rollout
    .command('history')
    .description("the service's revisions (at most 10), oldest first")
    .argument('<service>')
    .option('-p, --project <project>')
    .action(async (name: string, o: { project?: string }, cmd: Command) => {
      const s = await client(cmd.optsWithGlobals<Conn>()).get<Service>('Service', name, o.project);
      const rows = (s.status?.revisions ?? []).map((r) => {
        const t = r.template;
        const what = t.runtime === 'container' ? `image ${t.image}${t.command.length ? ` ${t.command.join(' ')}` : ''}` : t.command.join(' ');
        const mark = r.revision === s.status?.revision ? '*' : r.revision === s.status?.rollout?.stableRevision ? 'stable' : '';
        return [String(r.revision), mark, age(r.createdAt), t.runtime, what];
      });
      console.log(formatRows([['REVISION', 'CURRENT', 'AGE', 'RUNTIME', 'RUNS'], ...rows]));
    });

  rollout
    .command('undo')
    .description('go back to the previous revision (or --to-revision N), rolled out like any change')
    .argument('<service>')
    .option('-p, --project <project>')
    .option('--to-revision <n>', 'a revision from gedge rollout history')
    .action(async (name: string, o: { project?: string; toRevision?: string }, cmd: Command) => {
      const toRevision = o.toRevision === undefined ? undefined : Number(o.toRevision);
      if (toRevision !== undefined && !(Number.isInteger(toRevision) && toRevision >= 1)) throw new CliError(`--to-revision: expected a revision number, got "${o.toRevision}"`);
      await client(cmd.optsWithGlobals<Conn>()).rollout('undo', name, { project: o.project, toRevision });
      console.log(`service/${name} rolling back${toRevision ? ` to revision ${toRevision}` : ''}`);
    });

  for (const action of ['pause', 'resume'] as const) {
    rollout
      .command(action)
      .description(action === 'pause' ? 'stop replacing instances after the current step' : 'carry on with a paused rollout')
      .argument('<service>')
      .option('-p, --project <project>')
      .action(async (name: string, o: { project?: string }, cmd: Command) => {
        await client(cmd.optsWithGlobals<Conn>()).rollout(action, name, { project: o.project });
        console.log(`service/${name} ${action === 'pause' ? 'paused' : 'resumed'}`);
      });
  }
}

function settled(s: Service): boolean {
  const r = s.status?.rollout;
  return !!r && r.revision === s.status?.revision && (r.phase === 'Complete' || r.phase === 'Failed' || r.phase === 'RolledBack');
}

function finish(s: Service): void {
  const phase = s.status?.rollout?.phase;
  if (phase === 'Failed' || phase === 'RolledBack') throw new CliError(`rollout of "${s.metadata.name}" ${phase === 'Failed' ? 'failed' : 'was rolled back'}: ${s.status?.rollout?.message ?? ''}`);
}
