import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { yaml } from '../../core/lazy-yaml.ts';
import { lookupKind, SERVICE_LABEL, type GedgeEvent, type Instance, type Resource, type Rule } from '../../core/index.ts';
import { client } from '../config.ts';
import { CliError } from '../errors.ts';
import { age, formatRows, render, table, type OutputFormat } from '../printers.ts';
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
    .argument('<kind>', 'projects, sites, nodes, services (svc), instances (inst), events (ev)')
    .argument('[name]')
    .option('-o, --output <format>', 'table | wide | json | yaml', 'table')
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=cloud')
    .option('-p, --project <project>', 'project (default: all projects for lists, "default" for one object)')
    .option('-w, --watch', 'after listing, print changes as they happen')
    .action(async (kindArg: string, name: string | undefined, o: { output: string; selector?: string; project?: string; watch?: boolean }, cmd: Command) => {
      const kind = kindOrFail(kindArg);
      const format = formatOrFail(o.output);
      const api = client(cmd.optsWithGlobals<Conn>());
      if (name) {
        console.log(render(kind, [await api.get(kind, name, o.project)], format, true));
        return;
      }
      const { items, revision } = await api.list(kind, { project: o.project, selector: o.selector });
      console.log(render(kind, items, format, false));
      if (!o.watch) return;
      for await (const ev of api.watch(kind, { project: o.project, selector: o.selector, since: revision })) {
        if (ev.type === 'BOOKMARK' || !ev.object) continue;
        if (format === 'json') console.log(JSON.stringify(ev));
        else if (format === 'yaml') console.log(`---\n${yaml().stringify(ev)}`);
        else console.log(`${table(kind, [ev.object], format === 'wide', false)}${ev.type === 'DELETED' ? '   (deleted)' : ''}`);
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
    .description('delete an object')
    .argument('<kind>')
    .argument('<name>')
    .option('-p, --project <project>')
    .action(async (kindArg: string, name: string, o: { project?: string }, cmd: Command) => {
      const kind = kindOrFail(kindArg);
      const api = client(cmd.optsWithGlobals<Conn>());
      const gone = await api.delete<Resource>(kind, name, o.project);
      console.log(`${gone.kind.toLowerCase()}/${gone.metadata.name} deleted`);
    });
}

export function kindOrFail(arg: string): string {
  const info = lookupKind(arg);
  if (!info) throw new CliError(`unknown resource type "${arg}" (try: projects, sites, nodes, services, instances, events, links, priorityclasses, devices, routes, rules)`);
  return info.kind;
}

function formatOrFail(f: string): OutputFormat {
  if (!['table', 'wide', 'json', 'yaml'].includes(f)) throw new CliError(`--output: unknown format "${f}" (table, wide, json, yaml)`);
  return f as OutputFormat;
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
