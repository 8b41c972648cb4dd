import { yaml } from '../core/lazy-yaml.ts';
import { CliError } from './errors.ts';
import { customColumns, jsonpathTemplate, type CustomColumn, type Template } from './templates.ts';
import { durationMs, type Device, type DeviceCommand, type DeviceCredential, type GedgeEvent, type Instance, type SiteLink, type Node, type Resource, type Route, type Rule, type Service, type Site, type Model } from '../core/index.ts';

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml' | 'name';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'wide', 'json', 'yaml', 'name'];
/** What `get -o` takes: a format above, `jsonpath=TEMPLATE` or `custom-columns=SPEC` (cli/templates.ts). */
export const OUTPUT_HELP = `${OUTPUT_FORMATS.join(' | ')} | jsonpath=TEMPLATE | custom-columns=HEADER:EXPR,...`;
export type Output = OutputFormat | { jsonpath: Template } | { columns: CustomColumn[] };

export function outputOf(arg: string): Output {
  if (arg.startsWith('jsonpath=')) return { jsonpath: jsonpathTemplate(arg.slice('jsonpath='.length)) };
  if (arg.startsWith('custom-columns=')) return { columns: customColumns(arg.slice('custom-columns='.length)) };
  if (!OUTPUT_FORMATS.includes(arg as OutputFormat)) throw new CliError(`--output: unknown format "${arg}" (${OUTPUT_HELP})`);
  return arg as OutputFormat;
}

/** A table's columns: the kind's own (wide adds some), or custom-columns'. */
export function columnsOf(kind: string, output: Output): Column[] {
  if (typeof output === 'object' && 'columns' in output) return output.columns.map((c) => [c.header, (o) => c.value(o)]);
  return (COLUMNS[kind] ?? COLUMNS.Project!).filter((c) => output === 'wide' || !c[2]);
}

/** Human age like kubectl: 12s, 5m, 3h, 2d. */
export function age(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** 1.2Mi, as kubectl writes quantities. */
function bytes(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)}Ki`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)}Mi`;
  return `${(n / 1024 ** 3).toFixed(1)}Gi`;
}

type Column = [header: string, value: (o: Resource) => string, wideOnly?: boolean];

const COLUMNS: Record<string, Column[]> = {
  Project: [
    ['NAME', (o) => o.metadata.name],
    ['DESCRIPTION', (o) => ((o as { spec: { description?: string } }).spec.description ?? '')],
    ['AGE', (o) => age(o.metadata.createdAt)],
  ],
  Site: [
    ['NAME', (o) => o.metadata.name],
    ['TIER', (o) => (o as Site).spec.tier],
    ['PARENT', (o) => (o as Site).spec.parent ?? '<none>'],
    ['LOCATION', (o) => { const l = (o as Site).spec.location; return l ? `${l.lat},${l.lon}` : '<none>'; }],
    ['AGE', (o) => age(o.metadata.createdAt)],
  ],
  Node: [
    ['NAME', (o) => o.metadata.name],
    ['SITE', (o) => (o as Node).spec.site],
    ['STATUS', (o) => ((o as Node).status?.phase ?? 'Pending') + ((o as Node).spec.unschedulable ? ',Cordoned' : '')],
    ['CPU', (o) => { const n = o as Node; return `${n.status?.usage?.cpu ?? '?'}/${n.spec.capacity.cpu}`; }],
    ['MEMORY', (o) => { const n = o as Node; return `${n.status?.usage?.memoryMiB ?? '?'}/${n.spec.capacity.memoryMiB}Mi`; }],
    ['AGE', (o) => age(o.metadata.createdAt)],
    ['VERSION', (o) => (o as Node).status?.agent?.version ?? '', true],
    ['SYNCED-REV', (o) => String((o as Node).status?.syncedRevision ?? ''), true],
    ['HEARTBEAT', (o) => age((o as Node).status?.lastHeartbeatAt), true],
    ['UPLINK', (o) => { const u = (o as Node).status?.uplink; return u ? `${u.depthMessages} queued (max ${u.peakDepthMessages}), ${u.droppedOverflow + u.droppedExpired} dropped` : ''; }, true],
  ],
  Service: [
    ['NAME', (o) => o.metadata.name],
    ['PROJECT', (o) => o.metadata.project ?? ''],
    ['READY', (o) => { const s = o as Service; return `${s.status?.ready ?? 0}/${s.spec.replicas}`; }],
    ['RUNTIME', (o) => (o as Service).spec.template.runtime],
    ['AGE', (o) => age(o.metadata.createdAt)],
    ['COMMAND', (o) => (o as Service).spec.template.command.join(' '), true],
  ],
  Instance: [
    ['NAME', (o) => o.metadata.name],
    ['READY', (o) => ((o as Instance).status?.ready ? '1/1' : '0/1')],
    ['STATUS', (o) => (o as Instance).status?.phase ?? 'Pending'],
    ['RESTARTS', (o) => String((o as Instance).status?.restarts ?? 0)],
    ['NODE', (o) => (o as Instance).spec.node ?? '<none>'],
    ['AGE', (o) => age(o.metadata.createdAt)],
    ['PORTS', (o) => Object.entries((o as Instance).status?.ports ?? {}).map(([k, v]) => `${k}:${v}`).join(','), true],
    ['PID', (o) => String((o as Instance).status?.pid ?? ''), true],
    ['SERVICE', (o) => (o as Instance).spec.service ?? '', true],
  ],
  Device: [
    ['NAME', (o) => o.metadata.name],
    ['SITE', (o) => { const d = o as Device; return d.spec.roaming ? `${d.spec.site} (+${d.spec.roaming.sites.length} roaming)` : d.spec.site; }],
    ['CONNECTED', (o) => ((o as Device).status?.connected ? 'yes' : 'no')],
    ['NODE', (o) => (o as Device).status?.node ?? '<none>'],
    ['LAST SEEN', (o) => { const s = (o as Device).status; return s?.lastSeen ? age(s.lastSeen) : '<never>'; }],
    ['DESIRED', (o) => `v${o.metadata.generation ?? 1}`],
    ['ACKED', (o) => `v${(o as Device).status?.desiredAckVersion ?? 0}`],
    ['DENIED', (o) => String((o as Device).status?.denied ?? 0), true],
    ['PROJECT', (o) => o.metadata.project ?? '', true],
  ],
  DeviceCredential: [
    ['NAME', (o) => o.metadata.name],
    ['DEVICE', (o) => (o as DeviceCredential).spec.device],
    ['EXPIRES', (o) => (o as DeviceCredential).spec.expiresAt ?? 'never'],
    ['AGE', (o) => age(o.metadata.createdAt)],
    ['DESCRIPTION', (o) => (o as DeviceCredential).spec.description, true],
  ],
  Route: [
    ['NAME', (o) => o.metadata.name],
    ['TOPIC', (o) => (o as Route).spec.topic],
    ['SINK', (o) => (o as Route).spec.sink.type],
    ['SITES', (o) => (o as Route).spec.sites?.join(',') ?? '<all>'],
    ['DELIVERED', (o) => String((o as Route).status?.delivered ?? 0)],
    ['ERROR', (o) => (o as Route).status?.error ?? '', true],
  ],
  Rule: [
    ['NAME', (o) => o.metadata.name],
    ['FROM', (o) => /\bFROM\s+("[^"]*"|'[^']*')/i.exec((o as Rule).spec.sql)?.[1] ?? ''],
    ['NODES', (o) => ruleNodes(o as Rule)],
    ['IN', (o) => String(ruleSum(o as Rule, 'in'))],
    ['OUT', (o) => String(ruleSum(o as Rule, 'out'))],
    ['DROPPED', (o) => String(ruleSum(o as Rule, 'dropped') + ruleSum(o as Rule, 'late'))],
    ['SINK ERRORS', (o) => String(ruleSum(o as Rule, 'sinkErrors'))],
    ['AGE', (o) => age(o.metadata.createdAt)],
  ],
  Model: [
    ['NAME', (o) => o.metadata.name],
    ['MODEL', (o) => (o as Model).spec.model],
    ['VERSION', (o) => String((o as Model).spec.version)],
    ['FORMAT', (o) => (o as Model).spec.format],
    ['SIZE', (o) => bytes((o as Model).spec.artifact.size)],
    ['INPUTS', (o) => ((o as Model).spec.inputs ?? []).map((t) => `${t.name}:${t.datatype}[${t.shape.join(',')}]`).join(' ')],
    ['AGE', (o) => age(o.metadata.createdAt)],
    ['DIGEST', (o) => (o as Model).spec.artifact.digest, true],
    ['OUTPUTS', (o) => ((o as Model).spec.outputs ?? []).map((t) => `${t.name}:${t.datatype}[${t.shape.join(',')}]`).join(' '), true],
  ],
  DeviceCommand: [
    ['NAME', (o) => o.metadata.name],
    ['DEVICE', (o) => (o as DeviceCommand).spec.device],
    ['TOPIC', (o) => (o as DeviceCommand).spec.topic],
    ['PHASE', (o) => (o as DeviceCommand).status?.phase ?? 'Pending'],
    ['NODE', (o) => (o as DeviceCommand).status?.node ?? ''],
    ['AGE', (o) => age(o.metadata.createdAt)],
  ],
  SiteLink: [
    ['A', (o) => (o as SiteLink).spec.sites[0]],
    ['B', (o) => (o as SiteLink).spec.sites[1]],
    ['RTT(MS)', (o) => linkRtt(o as SiteLink)],
    ['JITTER(MS)', (o) => { const s = (o as SiteLink).status; return s ? s.jitterMs.toFixed(1) : ''; }],
    ['STATE', (o) => (o as SiteLink).status?.state ?? '<none>'],
    ['AGE', (o) => { const s = (o as SiteLink).status; return s ? age(s.measuredAt) : ''; }],
    ['SAMPLES', (o) => String((o as SiteLink).status?.samples ?? ''), true],
    ['DIRECTIONS', (o) => String((o as SiteLink).status?.directions ?? ''), true],
    ['DECLARED', (o) => (o as SiteLink).spec.declaredRtt ?? '', true],
  ],
  Event: [
    ['LAST SEEN', (o) => age((o as GedgeEvent).spec.at)],
    ['TYPE', (o) => (o as GedgeEvent).spec.type],
    ['REASON', (o) => (o as GedgeEvent).spec.reason],
    ['OBJECT', (o) => `${(o as GedgeEvent).spec.involved.kind.toLowerCase()}/${(o as GedgeEvent).spec.involved.name}`],
    ['MESSAGE', (o) => (o as GedgeEvent).spec.message],
  ],
};

/** The measured round trip; a declared one (marked) when nothing is measured. */
function linkRtt(l: SiteLink): string {
  const rtt = l.status?.rttMs;
  if (typeof rtt === 'number') return rtt.toFixed(1);
  if (l.spec.declaredRtt !== undefined) return `${durationMs(l.spec.declaredRtt).toFixed(1)} (declared)`;
  return '-';
}

export function table(cols: Column[], items: Resource[], header = true): string {
  const rows = items.map((o) => cols.map((c) => c[1](o)));
  return formatRows(header ? [cols.map((c) => c[0]), ...rows] : rows);
}

/**
 * A table printed a row at a time (get -w): each column as wide as the
 * widest value seen so far, so later rows line up with the header and the
 * rows above them (a longer value widens its column from then on).
 */
export function rowPrinter(cols: Column[]): { header(items: Resource[]): string; row(o: Resource): string } {
  const widths = cols.map((c) => c[0].length);
  const cells = (o: Resource) => cols.map((c) => c[1](o));
  const line = (r: string[]) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]! + 3))).join('').trimEnd();
  const fit = (r: string[]) => r.forEach((v, i) => (widths[i] = Math.max(widths[i]!, v.length)));
  return {
    header(items) {
      const rows = [cols.map((c) => c[0]), ...items.map(cells)];
      rows.forEach(fit);
      return rows.map(line).join('\n');
    },
    row(o) {
      const r = cells(o);
      fit(r);
      return line(r);
    },
  };
}

export function formatRows(rows: string[][]): string {
  if (!rows.length) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n');
}

/** stdout for `get`: the objects in the format asked (`name`: kind/name lines, as kubectl's -o name). An empty table prints nothing here (see get). */
export function render(kind: string, items: Resource[], format: Output, single: boolean): string {
  if (typeof format === 'object' && 'jsonpath' in format) return format.jsonpath(single ? items[0] : { kind: 'List', items });
  if (format === 'json') return JSON.stringify(single ? items[0] : { kind: 'List', items }, null, 2);
  if (format === 'yaml') return single ? yaml().stringify(items[0]) : items.map((i) => yaml().stringify(i)).join('---\n');
  if (format === 'name') return items.map((i) => `${kind.toLowerCase()}/${i.metadata.name}`).join('\n');
  return table(columnsOf(kind, format), items);
}

type RuleCounter = 'in' | 'out' | 'filtered' | 'dropped' | 'late' | 'sinkErrors' | 'pending';
/** A counter over every node that runs the rule. */
export const ruleSum = (r: Rule, k: RuleCounter): number => Object.values(r.status?.nodes ?? {}).reduce((n, s) => n + s[k], 0);
/** `2 running` or `1/2 running`, as the nodes report it; `paused` when every node says so. */
function ruleNodes(r: Rule): string {
  const nodes = Object.values(r.status?.nodes ?? {});
  if (!nodes.length) return '<none>';
  const running = nodes.filter((s) => s.phase === 'Running').length;
  if (r.spec.paused && nodes.every((s) => s.phase === 'Paused')) return 'paused';
  return running === nodes.length ? `${running} running` : `${running}/${nodes.length} running`;
}
