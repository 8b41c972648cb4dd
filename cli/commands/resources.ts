import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { yaml } from '../../core/lazy-yaml.ts';
import { KINDS, lookupKind, SERVICE_LABEL, type GedgeEvent, type Instance, type Resource, type Rule } from '../../core/index.ts';
import { client } from '../config.ts';
import { CliError } from '../errors.ts';
import { age, columnsOf, formatRows, OUTPUT_HELP, outputOf, render, rowPrinter } from '../printers.ts';
import { describePlacement } from '../describe-placement.ts';
import { describeRule } from '../describe-rule.ts';
import { batchOf, inSources } from '../apply-batch.ts';

interface Conn {
  server?: string;
  token?: string;
}

/** apply, get, describe, delete: the kubectl-like verbs over every kind. */
export function registerResourceCommands(program: Command): void {
  program
    .command('apply')
    .description('create or update objects from YAML/JSON manifests')
    .requiredOption('-f, --filename <path>', 'a file, a directory of *.yaml|*.yml|*.json (one apply, all or nothing, Projects and Sites first), or - for stdin')
    .action(async (o: { filename: string }, cmd: Command) => {
      const api = client(cmd.optsWithGlobals<Conn>());
      const batch = batchOf(readManifests(o.filename));
      let applied;
      try {
        applied = await api.apply(JSON.stringify(batch.map((d) => d.resource)));
      } catch (e) {
        throw inSources(e, batch);
      }
      for (const r of applied) console.log(`${r.kind.toLowerCase()}/${r.name} ${r.action}`);
    });

  program
    .command('get')
    .description('list objects of a kind, or show one')
    .argument('<kind>', kindList())
    .argument('[name]')
    .option('-o, --output <format>', OUTPUT_HELP, 'table')
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=cloud')
    .option('-p, --project <project>', 'project (default: all projects for lists, "default" for one object)')
    .option('-w, --watch', 'after listing, print changes as they happen')
    .action(async (kindArg: string, name: string | undefined, o: { output: string; selector?: string; project?: string; watch?: boolean }, cmd: Command) => {
      const kind = kindOrFail(kindArg);
      const format = outputOf(o.output);
      const jsonpath = typeof format === 'object' && 'jsonpath' in format ? format.jsonpath : undefined;
      // A template prints exactly what it says (kubectl adds no newline: {"\n"} does).
      const print = (s: string) => (jsonpath ? process.stdout.write(s) : console.log(s));
      const api = client(cmd.optsWithGlobals<Conn>());
      if (name) {
        print(render(kind, [await api.get(kind, name, o.project)], format, true));
        return;
      }
      const { items, revision } = await api.list(kind, { project: o.project, selector: o.selector });
      const tabular = format === 'table' || format === 'wide' || (typeof format === 'object' && 'columns' in format);
      const rows = o.watch && tabular ? rowPrinter(columnsOf(kind, format)) : undefined;
      // As kubectl: an empty list says so on stderr, so a script reading stdout gets nothing (table) or an empty list (json, yaml).
      if (!items.length && (tabular || format === 'name')) console.error(`No ${lookupKind(kind)!.plural} found${o.project ? ` in project ${o.project}` : ''}.`);
      if (rows) console.log(rows.header(items));
      else if (items.length || !(tabular || format === 'name')) print(render(kind, items, format, false));
      if (!o.watch) return;
      for await (const ev of api.watch(kind, { project: o.project, selector: o.selector, since: revision })) {
        if (ev.type === 'BOOKMARK' || !ev.object) continue;
        if (jsonpath) print(jsonpath(ev.object));
        else if (format === 'json') console.log(JSON.stringify(ev));
        else if (format === 'yaml') console.log(`---\n${yaml().stringify(ev)}`);
        else if (format === 'name') console.log(`${kind.toLowerCase()}/${ev.object.metadata.name}${ev.type === 'DELETED' ? ' (deleted)' : ''}`);
        else console.log(`${rows!.row(ev.object)}${ev.type === 'DELETED' ? '   (deleted)' : ''}`);
      }
    });

  program
    .command('describe')
    .description('show one object in detail, with its recent events')
    .argument('<kind>')
    .argument('<name>')
    .option('-p, --project <project>')
    .action(async (kindArg: string, name: string, o: { project?: string }, cmd: Command) => {
      const kind = kindOrFail(kindArg);
      const api = client(cmd.optsWithGlobals<Conn>());
      const obj = await api.get(kind, name, o.project);
      // The scheduler's explanation and a rule's per-node counters get tables of their own below.
      const { scheduling: _, nodes: _n, ...status } = (obj as { status?: { scheduling?: unknown; nodes?: unknown } }).status ?? {};
      console.log(yaml().stringify({ kind: obj.kind, metadata: obj.metadata, spec: obj.spec, ...(Object.keys(status).length && { status }) }).trimEnd());
      if (kind === 'Rule') console.log(`\n${describeRule(obj as Rule)}`);
      if (kind === 'Service' || kind === 'Instance') {
        const instances = kind === 'Instance' ? [obj as Instance] : (await api.list<Instance>('Instance', { project: o.project, selector: `${SERVICE_LABEL}=${name}` })).items;
        console.log(`\n${describePlacement(instances)}`);
      }
      const events = (await api.list<GedgeEvent>('Event', { selector: `gedge.io/involved-kind=${kind},gedge.io/involved-name=${name}` })).items
        .sort((a, b) => a.spec.at.localeCompare(b.spec.at))
        .slice(-20);
      console.log('\nEvents:');
      if (!events.length) console.log('  <none>');
      else console.log(formatRows([['  AGE', 'TYPE', 'REASON', 'FROM', 'MESSAGE'], ...events.map((e) => [`  ${age(e.spec.at)}`, e.spec.type, e.spec.reason, e.spec.source, e.spec.message])]));
    });

  program
    .command('delete')
    .description('delete objects: one by name, by label selector, all of a kind, or those of manifests (-f)')
    .argument('[kind]')
    .argument('[name]')
    .option('-p, --project <project>')
    .option('-l, --selector <selector>', 'every object of the kind with these labels, e.g. app=web')
    .option('--all', 'every object of the kind (in --project, if given)')
    .option('-f, --filename <path>', 'the objects of a manifest file, a directory of them, or - for stdin (dependents first)')
    .action(async (kindArg: string | undefined, name: string | undefined, o: { project?: string; selector?: string; all?: boolean; filename?: string }, cmd: Command) => {
      const api = client(cmd.optsWithGlobals<Conn>());
      const targets = await deleteTargets(api, kindArg, name, o);
      let failed = 0;
      for (const t of targets) {
        try {
          const gone = await api.delete<Resource>(t.kind, t.name, t.project);
          console.log(`${gone.kind.toLowerCase()}/${gone.metadata.name} deleted`);
        } catch (e) {
          // One that is gone already (or refused) does not stop the others; the exit code says something failed.
          failed++;
          console.error(`error: ${t.kind.toLowerCase()}/${t.name}: ${(e as Error).message}`);
        }
      }
      if (failed) throw new CliError(`${failed} of ${targets.length} not deleted`);
    });
}

/** What `gedge delete` was asked to delete: exactly one way of naming it. */
async function deleteTargets(api: ReturnType<typeof client>, kindArg: string | undefined, name: string | undefined, o: { project?: string; selector?: string; all?: boolean; filename?: string }): Promise<{ kind: string; name: string; project?: string }[]> {
  const ways = [name !== undefined, o.selector !== undefined, !!o.all, o.filename !== undefined].filter(Boolean).length;
  if (ways !== 1) throw new CliError('name exactly one of: a NAME, -l SELECTOR, --all, or -f FILE');
  if (o.filename !== undefined) {
    if (kindArg !== undefined) throw new CliError('-f takes the kinds from the manifests: give no KIND');
    // Dependents before what they name: the reverse of the apply order.
    return batchOf(readManifests(o.filename))
      .reverse()
      .map(({ resource: r }) => ({ kind: r.kind, name: r.metadata.name, ...(lookupKind(r.kind)?.namespaced ? { project: r.metadata.project } : {}) }));
  }
  if (kindArg === undefined) throw new CliError('missing KIND (e.g. gedge delete service web)');
  const kind = kindOrFail(kindArg);
  if (name !== undefined) return [{ kind, name, project: o.project }];
  const { items } = await api.list(kind, { project: o.project, selector: o.selector });
  return items.map((i) => ({ kind, name: i.metadata.name, ...(i.metadata.project !== undefined ? { project: i.metadata.project } : {}) }));
}

export function kindOrFail(arg: string): string {
  const info = lookupKind(arg);
  if (!info) throw new CliError(`unknown resource type "${arg}" (one of: ${kindList()})`);
  return info.kind;
}

/** Every kind, as `gedge get --help` and an unknown kind's error list them: plural (short names). */
function kindList(): string {
  return Object.values(KINDS)
    .map((k) => `${k.plural}${k.shortNames.length ? ` (${k.shortNames.join(', ')})` : ''}`)
    .join(', ');
}

function readManifests(path: string): { source: string; text: string }[] {
  if (path === '-') return [{ source: '<stdin>', text: readFileSync(0, 'utf8') }];
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new CliError(`${path}: no such file or directory`);
  }
  if (!st.isDirectory()) return [{ source: path, text: readFileSync(path, 'utf8') }];
  const files = readdirSync(path).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
  if (!files.length) throw new CliError(`${path}: no *.yaml, *.yml or *.json files`);
  return files.map((f) => ({ source: join(path, f), text: readFileSync(join(path, f), 'utf8') }));
}
