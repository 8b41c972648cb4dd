import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { NotFoundError, type ApiClient, type DeviceCredential } from '../../core/index.ts';
import { SimConfigError } from '../errors.ts';

/**
 * Deploys the smart-city scenario (examples/smart-city) into project `city`:
 * its sites, rules and routes as written, plus what depends on where the
 * brokers listen, which a manifest cannot know:
 *
 * - `signal-timing-cloud`: the rule `signal-timing` again, unchanged but for
 *   its target (the cloud site) and `plan.via: cloud`, so the same statement
 *   decides the intersections its `control` table gives the cloud;
 * - the bridges: Devices whose credentials the center's MQTT sinks sign in
 *   with (`cloud-bridge` on the cloud's broker, `signals-<edge>` on each edge's);
 * - routes with MQTT sinks: `flows` (the aggregates, to the cloud's broker),
 *   `raw-to-cloud-<int>` (the raw readings of a cloud-decided intersection, to
 *   the cloud's broker) and `signals-<edge>` (the cloud's decisions, from the
 *   cloud's broker down to that edge's broker, over the WAN).
 *
 * Idempotent: a second run updates everything in place and rotates the
 * bridges' credentials (the routes' sinks reconnect with the new ones).
 */

export const CITY_PROJECT = 'city';
const BRIDGE_CREDENTIAL = 'smart-city bridge';
/** The files applied as written, in order (routes before the rules that feed them). */
const MANIFESTS = ['sites.yaml', 'stats.yaml', 'flows.yaml', 'city-view.yaml', 'signal-timing.yaml'];

export interface SmartCityOptions {
  /** examples/smart-city. */
  manifestsDir: string;
  /** The cloud site's broker (host:port) as the center reaches it. */
  cloudBroker: string;
  /** Each edge site's broker (host:port) as the center reaches it, across the WAN; the sites run (a subset of the manifests' edges). */
  edgeBrokers: Record<string, string>;
  /** The brokers serve MQTTS: the bridge routes connect with mqtts:// (the center verifies them against its CA). */
  tls?: boolean;
  /**
   * The vehicles too (`gedge sim vehicles`): the assistant `assist`
   * (assist.yaml: an instance at each edge site run and one warm in the
   * region) and the routes of the roadside reporters (vehicles.yaml).
   * Off by default: the headline benchmark keeps its load.
   */
  vehicles?: boolean;
  log?: (line: string) => void;
}

export interface SmartCityDeployment {
  edges: string[];
  /** Intersections decided through the cloud (`i1`, ...: the same in every edge site). */
  cloudControlled: string[];
  rules: string[];
  routes: string[];
}

/** A manifest document, as read from the examples or generated here. */
interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; project?: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

export async function deploySmartCity(api: ApiClient, o: SmartCityOptions): Promise<SmartCityDeployment> {
  const log = o.log ?? (() => {});
  const files = MANIFESTS.map((f) => ({ file: f, docs: readDocs(join(o.manifestsDir, f)) }));
  const all = files.flatMap((f) => f.docs);
  const known = new Set(all.filter((d) => d.kind === 'Site' && d.spec.tier === 'edge').map((d) => d.metadata.name));
  const edges = Object.keys(o.edgeBrokers);
  const unknown = edges.filter((e) => !known.has(e));
  if (!edges.length || unknown.length) {
    throw new SimConfigError(`the edge sites run must be among ${[...known].join(', ')}`, { details: (unknown.length ? unknown : ['(none)']).map((u) => ({ path: `edgeBrokers.${u}`, message: 'not an edge site of sites.yaml' })) });
  }

  const timing = all.find((d) => d.kind === 'Rule' && d.metadata.name === 'signal-timing');
  if (!timing) throw new SimConfigError('signal-timing.yaml has no Rule signal-timing', { details: [] });
  const tables = timing.spec.tables as Record<string, { rows?: Record<string, unknown>[] }>;
  const cloudControlled = (tables.control?.rows ?? []).filter((r) => r.via === 'cloud').map((r) => String(r.intersection));

  const [sites, ...rest] = files;
  await api.apply(toText(sites!.docs));
  const creds = await rotateBridges(api, edges);

  const bridgeSink = (broker: string, device: string) => ({ type: 'mqtt', url: `${o.tls ? 'mqtts' : 'mqtt'}://${broker}`, qos: 1, clientId: `${CITY_PROJECT}/${device}`, username: `${CITY_PROJECT}/${device}`, password: creds.get(device)! });
  const routes: Doc[] = [
    route('flows', { topic: 'flows/#', sites: edges, sink: bridgeSink(o.cloudBroker, 'cloud-bridge') }),
    ...cloudControlled.map((i) => route(`raw-to-cloud-${i}`, { topic: `traffic/+/${i}/#`, sites: edges, sink: bridgeSink(o.cloudBroker, 'cloud-bridge') })),
    ...edges.map((e) => route(`signals-${e}`, { topic: `signals/${e}/#`, sites: ['cloud'], sink: bridgeSink(o.edgeBrokers[e]!, `signals-${e}`) })),
  ];
  const cloudTiming: Doc = {
    ...timing,
    metadata: { ...timing.metadata, name: 'signal-timing-cloud' },
    spec: { ...timing.spec, target: { sites: ['cloud'] }, tables: { ...tables, plan: { rows: (tables.plan?.rows ?? []).map((r) => ({ ...r, via: 'cloud' })) } } },
  };
  await api.apply(toText(routes));
  for (const f of rest) await api.apply(toText(f.docs));
  await api.apply(toText([cloudTiming]));
  const applied = [...rest.flatMap((f) => f.docs), ...routes, cloudTiming, ...(o.vehicles ? await deploySmartCityVehicles(api, { manifestsDir: o.manifestsDir, edges }) : [])];
  log(`smart city deployed: ${edges.length} edge sites, ${cloudControlled.join(', ') || 'no intersection'} decided through the cloud`);
  return {
    edges,
    cloudControlled,
    rules: applied.filter((d) => d.kind === 'Rule').map((d) => d.metadata.name),
    routes: applied.filter((d) => d.kind === 'Route').map((d) => d.metadata.name),
  };
}

/**
 * The vehicles' part of the smart city (deploySmartCity's `vehicles`, or
 * later on its own): the assistant and the reporters' routes. assist.yaml
 * names every edge of the city; here its instances go to the edges run and
 * the region above them, one a site. Idempotent.
 */
export async function deploySmartCityVehicles(api: ApiClient, o: { manifestsDir: string; edges: string[] }): Promise<Doc[]> {
  const { edges } = o;
  const city = readDocs(join(o.manifestsDir, 'sites.yaml'));
  const [assist, ...more] = readDocs(join(o.manifestsDir, 'assist.yaml'));
  const routes = readDocs(join(o.manifestsDir, 'vehicles.yaml'));
  if (!assist || assist.kind !== 'Service' || more.length) throw new SimConfigError('assist.yaml must hold the Service assist alone', { details: [] });
  const regions = [...new Set(city.filter((d) => d.kind === 'Site' && edges.includes(d.metadata.name)).map((d) => String(d.spec.parent)))];
  const placement = { ...(assist.spec.placement as Record<string, unknown>), sites: [...edges, ...regions] };
  const docs = [...routes, { ...assist, spec: { ...assist.spec, replicas: edges.length + regions.length, placement } }];
  await api.apply(toText(docs));
  return docs;
}

/** The bridge Devices, and a fresh credential for each (the previous ones revoked first). */
async function rotateBridges(api: ApiClient, edges: string[]): Promise<Map<string, string>> {
  const bridges = [
    device('cloud-bridge', 'cloud', ['traffic/#', 'flows/#'], 'the center delivering the routes flows and raw-to-cloud-* to the cloud broker'),
    ...edges.map((e) => device(`signals-${e}`, e, [`signals/${e}/#`], `the center delivering the cloud's signal decisions to ${e}`)),
  ];
  await api.apply(toText(bridges));
  const names = new Set(bridges.map((b) => b.metadata.name));
  const stale = (await api.list<DeviceCredential>('DeviceCredential', { project: CITY_PROJECT })).items.filter((c) => c.spec.description === BRIDGE_CREDENTIAL && names.has(c.spec.device));
  for (const c of stale) await api.delete('DeviceCredential', c.metadata.name, CITY_PROJECT).catch((e: unknown) => (e instanceof NotFoundError ? undefined : Promise.reject(e)));
  const out = new Map<string, string>();
  for (const name of names) out.set(name, (await api.issueDeviceCredential(CITY_PROJECT, name, { description: BRIDGE_CREDENTIAL })).password);
  return out;
}

function readDocs(file: string): Doc[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    if (d.errors.length) throw new SimConfigError(`${file}: ${d.errors[0]!.message}`, { details: [] });
    return d.toJS() as Doc;
  });
}

const toText = (docs: Doc[]): string => docs.map((d) => JSON.stringify(d)).join('\n---\n');

const route = (name: string, spec: Record<string, unknown>): Doc =>
  ({ apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name, project: CITY_PROJECT }, spec });

const device = (name: string, site: string, publish: string[], description: string): Doc =>
  ({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name, project: CITY_PROJECT, labels: { 'gedge.io/scenario': 'smart-city' } }, spec: { site, description, grants: { publish, subscribe: [] } } });
