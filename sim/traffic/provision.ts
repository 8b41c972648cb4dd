import { NotFoundError, type ApiClient, type Device, type DeviceCredential, type Node, type Project, type Site } from '../../core/index.ts';
import { NoBrokerError, ProvisionError, SimConfigError } from '../errors.ts';
import { APPROACHES } from './model.ts';
import { checkIncidents, grantsFor, planLayout, type DeviceRole, type IntersectionLayout } from './layout.ts';
import type { TrafficOptions } from './options.ts';

/**
 * Provisioning through the API client only, idempotent: run it any number of
 * times and the same project, devices and grants come out. Named steps, in
 * order: ensureProject, resolveBrokers, planLayout, applyDevices,
 * pruneCredentials, issueCredentials.
 */

/** Marks what the simulator created, on devices (label) and credentials (description). */
export const SIM_LABEL = 'gedge.io/sim';
export const SIM_CREDENTIAL_DESCRIPTION = 'gedge sim traffic';
const ROLE_LABEL = 'traffic.gedge.io/role';
const INTERSECTION_LABEL = 'traffic.gedge.io/intersection';
/** Requests to the center at a time. */
const API_CONCURRENCY = 16;
/** Devices per apply request (each a few hundred bytes; the API takes 1 MiB). */
const APPLY_CHUNK = 250;

export interface BrokerAddress {
  host: string;
  port: number;
  /** MQTTS (the edge's certificate, issued by the center's CA), or plain MQTT where the node turned only that on. */
  tls: boolean;
  /** The node that runs it. */
  node: string;
}

export interface SimDeviceIdentity {
  name: string;
  role: DeviceRole;
  clientId: string;
  password: string;
  /** The credential's name, to revoke it when the run ends. */
  credential: string;
  broker: BrokerAddress;
}

export interface Provisioned {
  project: string;
  sites: string[];
  layout: IntersectionLayout[];
  /** By device name. */
  devices: Map<string, SimDeviceIdentity>;
  /** The center's CA (PEM), which the MQTTS brokers' certificates chain to; absent when every broker is plain. */
  ca?: string;
}

export async function provisionTraffic(api: ApiClient, o: TrafficOptions, log: (line: string) => void = () => undefined): Promise<Provisioned> {
  await ensureProject(api, o.project, log);
  const brokers = await resolveBrokers(api, o.sites);
  const sites = [...brokers.keys()];
  const layout = planLayout(sites, o.devices);
  checkIncidents(layout, o.incidents);
  await applyDevices(api, o.project, layout, log);
  await pruneCredentials(api, o.project, new Set(layout.flatMap((i) => roles(i).map((r) => r.name))), log);
  const devices = await issueCredentials(api, o.project, layout, brokers);
  const ca = [...brokers.values()].flat().some((b) => b.tls) ? await api.centerCa() : undefined;
  log(`provisioned ${devices.size} devices at ${layout.length} intersections on ${sites.join(', ')} (project ${o.project})`);
  return { project: o.project, sites, layout, devices, ...(ca ? { ca } : {}) };
}

async function ensureProject(api: ApiClient, project: string, log: (line: string) => void): Promise<void> {
  try {
    await api.get<Project>('Project', project);
  } catch (e) {
    if (!(e instanceof NotFoundError)) throw e;
    await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: project }, spec: { description: 'smart-city traffic (gedge sim traffic)' } }));
    log(`project ${project} created`);
  }
}

/**
 * Each site's edge brokers: the nodes of the site whose status shows one,
 * Ready nodes first. Without `sites`, every edge site that has a broker.
 */
export async function resolveBrokers(api: ApiClient, wanted: string[] | undefined): Promise<Map<string, BrokerAddress[]>> {
  const [sites, nodes] = await Promise.all([api.list<Site>('Site'), api.list<Node>('Node')]);
  const bySite = new Map<string, BrokerAddress[]>();
  const ordered = [...nodes.items].sort((a, b) => Number(b.status?.phase === 'Ready') - Number(a.status?.phase === 'Ready') || a.metadata.name.localeCompare(b.metadata.name));
  for (const n of ordered) {
    const mqtt = n.status?.mqtt;
    // MQTTS where the broker serves it, as a real device would; plain MQTT only where the node turned on nothing else.
    const port = mqtt?.tls ?? mqtt?.tcp;
    if (!mqtt || port === undefined) continue;
    const list = bySite.get(n.spec.site) ?? [];
    list.push({ host: reachableHost(mqtt.host), port, tls: mqtt.tls !== undefined, node: n.metadata.name });
    bySite.set(n.spec.site, list);
  }
  if (!wanted) {
    const edge = sites.items.filter((s) => s.spec.tier === 'edge' && bySite.has(s.metadata.name)).map((s) => s.metadata.name).sort();
    if (!edge.length) throw new NoBrokerError('no edge site has a node with an MQTT broker: start an agent there with --mqtt-tls-listen HOST:PORT, or name the sites with --sites');
    return new Map(edge.map((s) => [s, bySite.get(s)!]));
  }
  const known = new Set(sites.items.map((s) => s.metadata.name));
  const problems: { path: string; message: string }[] = [];
  const missing: string[] = [];
  wanted.forEach((s, i) => {
    if (bySite.has(s)) return;
    missing.push(s);
    problems.push({ path: `sites[${i}]`, message: known.has(s) ? `site "${s}" has no node with an MQTT broker (start its agent with --mqtt-tls-listen HOST:PORT)` : `site "${s}" does not exist` });
  });
  if (missing.length) throw new NoBrokerError(`no edge broker for site ${missing.join(', ')}`, { details: problems });
  if (new Set(wanted).size !== wanted.length) throw new SimConfigError('--sites names a site twice', { details: [{ path: 'sites', message: wanted.join(',') }] });
  return new Map(wanted.map((s) => [s, bySite.get(s)!]));
}

/** A broker listening on every address is reached on loopback (the simulator runs next to it, or names its sites' brokers itself). */
function reachableHost(host: string): string {
  return host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
}

function roles(i: IntersectionLayout): { name: string; role: DeviceRole }[] {
  return [...APPROACHES.map((a) => ({ name: i.loops[a], role: 'loop' as const })), { name: i.camera, role: 'camera' }, { name: i.light, role: 'light' }];
}

/**
 * Creates the devices that are missing and completes the grants and labels
 * of those that exist; anything else a device has (its desired twin, other
 * grants) is kept, so a run never undoes what a scenario set.
 */
async function applyDevices(api: ApiClient, project: string, layout: IntersectionLayout[], log: (line: string) => void): Promise<void> {
  const existing = new Map((await api.list<Device>('Device', { project })).items.map((d) => [d.metadata.name, d]));
  const docs: Device[] = [];
  const problems: { path: string; message: string }[] = [];
  for (const i of layout) {
    for (const { name, role } of roles(i)) {
      const want = grantsFor(role, i);
      const labels = { [SIM_LABEL]: 'traffic', [ROLE_LABEL]: role, [INTERSECTION_LABEL]: i.id };
      const d = existing.get(name);
      if (d && d.spec.site !== i.site) {
        problems.push({ path: name, message: `exists at site ${d.spec.site}, not ${i.site} (a device's site is fixed: delete it, or use another project)` });
        continue;
      }
      const publish = union(d?.spec.grants.publish ?? [], want.publish);
      const subscribe = union(d?.spec.grants.subscribe ?? [], want.subscribe);
      const mergedLabels = { ...(d?.metadata.labels ?? {}), ...labels };
      if (d && publish.length === d.spec.grants.publish.length && subscribe.length === d.spec.grants.subscribe.length && sameLabels(d.metadata.labels ?? {}, mergedLabels)) continue;
      docs.push({
        apiVersion: 'gedge.io/v1',
        kind: 'Device',
        metadata: { name, project, labels: mergedLabels },
        spec: { site: i.site, description: d?.spec.description || `traffic ${role} at ${i.site}/${i.id}`, grants: { publish, subscribe }, twin: d?.spec.twin ?? { desired: {} } },
      });
    }
  }
  if (problems.length) throw new ProvisionError(`${problems.length} device(s) cannot be provisioned as planned in project ${project}`, { details: problems });
  for (let k = 0; k < docs.length; k += APPLY_CHUNK) await api.apply(docs.slice(k, k + APPLY_CHUNK).map((d) => JSON.stringify(d)).join('\n---\n'));
  if (docs.length) log(`applied ${docs.length} devices (${layout.length * 6 - docs.length} unchanged)`);
}

/**
 * Revokes what earlier runs issued and left behind (a run revokes its own
 * when it stops). Before new credentials: the edge applies changes in
 * revision order, so the kick a revocation causes comes before the new
 * credentials can sign anyone in.
 */
async function pruneCredentials(api: ApiClient, project: string, devices: Set<string>, log: (line: string) => void): Promise<void> {
  const stale = (await api.list<DeviceCredential>('DeviceCredential', { project })).items.filter((c) => c.spec.description === SIM_CREDENTIAL_DESCRIPTION && devices.has(c.spec.device));
  await pool(stale, (c) => api.delete('DeviceCredential', c.metadata.name, project).catch((e: unknown) => (e instanceof NotFoundError ? undefined : Promise.reject(e))));
  if (stale.length) log(`revoked ${stale.length} credentials left by an earlier run`);
}

async function issueCredentials(api: ApiClient, project: string, layout: IntersectionLayout[], brokers: Map<string, BrokerAddress[]>): Promise<Map<string, SimDeviceIdentity>> {
  const perSite = new Map<string, number>();
  const wanted = layout.flatMap((i) => {
    // Intersections of a site take its brokers in turn; an intersection's devices share one.
    const k = perSite.get(i.site) ?? 0;
    perSite.set(i.site, k + 1);
    const list = brokers.get(i.site)!;
    const broker = list[k % list.length]!;
    return roles(i).map((r) => ({ ...r, broker }));
  });
  const out = new Map<string, SimDeviceIdentity>();
  await pool(wanted, async (w) => {
    const c = await api.issueDeviceCredential(project, w.name, { description: SIM_CREDENTIAL_DESCRIPTION });
    out.set(w.name, { name: w.name, role: w.role, clientId: c.clientId, password: c.password, credential: c.credential.metadata.name, broker: w.broker });
  });
  return out;
}

/** Revokes a run's credentials (best effort: the run is over either way). */
export async function revokeCredentials(api: ApiClient, project: string, names: string[]): Promise<number> {
  let failed = 0;
  await pool(names, (n) => api.delete('DeviceCredential', n, project).catch((e: unknown) => void (e instanceof NotFoundError || failed++)));
  return failed;
}

async function pool<T>(items: T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(API_CONCURRENCY, items.length) }, worker));
}

const union = (a: string[], b: string[]): string[] => [...new Set([...a, ...b])];
const sameLabels = (a: Record<string, string>, b: Record<string, string>): boolean => Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);
