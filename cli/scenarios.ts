import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ApiClient, Node, Service } from '../core/index.ts';
import { AIRPORT_PROJECT, CITY_PROJECT, deployAirport, deploySmartCity, rollToExit2, type Outage, type Wan, type WanDelays } from '../sim/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** What `gedge up` was asked for (cli/commands/processes.ts). */
export interface UpOptions {
  scenario: 'city' | 'airport';
  dataDir: string;
  port: number;
  wan: WanDelays;
  outage?: Outage;
  /** City: traffic simulator scale; devices 0 runs no simulator. */
  devices: number;
  rate: number;
  /** City: vehicles with the assistant (0: none, and no assist Service), and the rush hour at one edge (none without it). */
  vehicles: number;
  surge?: { site: string; everyMs: number; forMs: number };
  /** Airport: cameras a terminal (0: no simulator), frames a second each, and when the model rollout starts (0: never). */
  cameras: number;
  fps: number;
  rolloutAfterMs: number;
}

export interface ScenarioAgent {
  name: string;
  site: string;
  tier: 'cloud' | 'region' | 'edge';
  /** Its broker listens on the center's port + this, when free. */
  mqtt?: number;
}

/** What `gedge up` needs once the scenario is deployed. */
export interface Deployed {
  /** Its simulators, each its own process: the name of its log (logs/NAME.log) and its `gedge ...` arguments. */
  sims: { name: string; args: string[] }[];
  /** The dashboard page (`#/...`). */
  page: string;
  /** Banner lines after the common ones. */
  banner: string[];
  /** One status line, printed every 10 s. */
  status: () => Promise<string>;
  /** Anything timed after the start (the airport's model rollout); returns a cancel. */
  later?: (say: (line: string) => void) => () => void;
}

export interface DeployContext {
  api: ApiClient;
  wan: Wan;
  /** By site: the broker port of its agent. */
  brokers: Map<string, number>;
  /** By site: its agent's endpoint resolver (host:port). */
  resolvers: Map<string, string>;
  caFile: string;
  o: UpOptions;
}

export interface Scenario {
  name: 'city' | 'airport';
  description: string;
  agents: ScenarioAgent[];
  /** Applied before the agents join (Project and Sites). */
  sitesFile: string;
  deploy: (ctx: DeployContext) => Promise<Deployed>;
}

const brokerList = (ctx: DeployContext) => `${[...ctx.brokers].map(([s, p]) => `${s} mqtts://127.0.0.1:${p}`).join(', ')} (CA ${ctx.caFile})`;

const CITY_DIR = join(ROOT, 'examples', 'smart-city');
const city: Scenario = {
  name: 'city',
  description: 'the smart-city scenario (examples/smart-city, README "Five-minute tour")',
  agents: [
    { name: 'cloud-1', site: 'cloud', tier: 'cloud', mqtt: 1 },
    { name: 'region-1', site: 'region-gangnam', tier: 'region' },
    ...['a', 'b', 'c', 'd'].map((x, k) => ({ name: `edge-${x}-1`, site: `edge-${x}`, tier: 'edge' as const, mqtt: 2 + k })),
  ],
  sitesFile: join(CITY_DIR, 'sites.yaml'),
  deploy: async (ctx) => {
    const { api, wan, brokers, o } = ctx;
    const edgeBrokers: Record<string, string> = {};
    for (const a of city.agents.filter((x) => x.tier === 'edge')) edgeBrokers[a.site] = await wan.brokerAddress(a.site, 'edge', brokers.get(a.site)!);
    const d = await deploySmartCity(api, { manifestsDir: CITY_DIR, cloudBroker: `127.0.0.1:${brokers.get('cloud')}`, edgeBrokers, tls: true, vehicles: o.vehicles > 0 });
    await api.apply(readFileSync(join(ROOT, 'examples', 'hello', 'service.yaml'), 'utf8'));
    const edges = new Set(d.edges);
    return {
      // Its own process, like a real fleet of devices: its timing is not the agents' nor the WAN emulator's.
      sims: [
        ...(o.devices > 0 ? [{ name: 'sim', args: ['sim', 'traffic', '-p', CITY_PROJECT, '--sites', d.edges.join(','), '--devices', String(o.devices), '--rate', String(o.rate), '--stats-every', '10s'] }] : []),
        ...(o.vehicles > 0 ? [{ name: 'vehicles', args: vehicleArgs(o, d.edges.map((e) => `${e}=${ctx.resolvers.get(e)!}`)) }] : []),
      ],
      page: 'scenario',
      banner: [
        `  Sites:        cloud <- ${o.wan.regionCloudMs} ms -> region-gangnam <- ${o.wan.edgeRegionMs} ms -> ${d.edges.join(', ')}   (one way)`,
        `  Devices:      ${o.devices > 0 ? `${o.devices} simulated (${o.rate} msg/s each, logs/sim.log); ` : ''}${brokerList(ctx)}`,
        `  Vehicles:     ${o.vehicles > 0 ? `${o.vehicles} with the assistant (Service assist), their sessions following them between the edges${o.surge ? `; a rush hour at ${o.surge.site} every ${o.surge.everyMs / 1000} s for ${o.surge.forMs / 1000} s, offloaded to the region` : ''} (logs/vehicles.log)` : 'none'}`,
        `  Control:      the edges decide their lights; ${d.cloudControlled.join(', ')} of every edge is decided through the cloud, for comparison`,
        '',
        'Try:',
        '  npx gedge get rules -p city',
        '  npx gedge describe rule signal-timing -p city',
        '  npx gedge messages city-view -p city',
        '  npx gedge get nodes',
      ],
      status: () => cityStatus(api, edges, wan),
    };
  },
};

/** `gedge sim vehicles` through the edges' endpoint resolvers. */
function vehicleArgs(o: UpOptions, resolvers: string[]): string[] {
  const surge = o.surge ? ['--surge-site', o.surge.site, '--surge-every', `${o.surge.everyMs}ms`, '--surge-for', `${o.surge.forMs}ms`] : [];
  return ['sim', 'vehicles', '-p', CITY_PROJECT, '--resolvers', resolvers.join(','), '--vehicles', String(o.vehicles), ...surge, '--stats-every', '10s'];
}

/**
 * The control-loop latency both ways, as the edges measured it (route
 * city-stats: their latest 5 s window), and what each edge holds back.
 */
async function cityStatus(api: ApiClient, edges: Set<string>, wan: Wan): Promise<string> {
  const [nodes, stats] = await Promise.all([api.list<Node>('Node'), api.messages(CITY_PROJECT, 'city-stats', { limit: 200 })]);
  const latest = new Map<string, { p50: number; p99: number; windowEnd: number }>();
  for (const m of stats.items) {
    if (!m.topic.endsWith('/latency') || m.encoding !== 'utf8') continue;
    const r = JSON.parse(m.payload) as { site: string; via: string; p50: number; p99: number; windowEnd: number };
    const key = `${r.via}/${r.site}`;
    if ((latest.get(key)?.windowEnd ?? 0) <= r.windowEnd) latest.set(key, r);
  }
  const lat = (via: string) => {
    const rows = [...latest].filter(([k]) => k.startsWith(`${via}/`)).map(([, r]) => r);
    if (!rows.length) return 'no commands yet';
    const p50 = rows.map((r) => r.p50).sort((a, b) => a - b)[Math.floor(rows.length / 2)]!;
    return `p50 ${p50.toFixed(1)} / p99 ${Math.max(...rows.map((r) => r.p99)).toFixed(1)} ms`;
  };
  const held = nodes.items
    .filter((n) => edges.has(n.spec.site))
    .map((n) => `${n.spec.site}${wan.isCut(n.spec.site) ? ' (cut off)' : ''} ${n.status?.uplink?.depthMessages ?? 0}/${n.status?.uplink?.peakDepthMessages ?? 0}`);
  const offloading = nodes.items.filter((n) => edges.has(n.spec.site) && n.status?.overflowing?.length).map((n) => n.spec.site);
  return `control loop: edge ${lat('edge')}, cloud ${lat('cloud')} | uplink buffered now/max: ${held.join(', ')} | offloading to the region: ${offloading.join(', ') || 'none'}`;
}

const AIRPORT_DIR = join(ROOT, 'examples', 'airport');
const MODELS_DIR = join(ROOT, 'models', 'fashion-mnist');
const TERMINALS = ['terminal-1', 'terminal-2'];
const airport: Scenario = {
  name: 'airport',
  description: "the smart-airport scenario (examples/airport, docs/airport.md): CCTV frames classified at the terminals' edges, hard ones finished in the cloud",
  agents: [{ name: 'cloud-1', site: 'cloud', tier: 'cloud', mqtt: 1 }, ...TERMINALS.map((t, k) => ({ name: `${t}-1`, site: t, tier: 'edge' as const, mqtt: 2 + k }))],
  sitesFile: join(AIRPORT_DIR, 'sites.yaml'),
  deploy: async (ctx) => {
    const { api, o } = ctx;
    const d = await deployAirport(api, { manifestsDir: AIRPORT_DIR, modelsDir: MODELS_DIR });
    return {
      sims: o.cameras > 0 ? [{ name: 'sim', args: ['sim', 'cctv', '-p', AIRPORT_PROJECT, '--sites', d.edges.join(','), '--cameras', String(o.cameras), '--fps', String(o.fps), '--stats-every', '60s'] }] : [],
      page: 'airport',
      banner: [
        `  Sites:        cloud <- ${ctx.wan.delayOf('edge')} ms -> ${d.edges.join(', ')}   (one way)`,
        `  Cameras:      ${o.cameras > 0 ? `${o.cameras} a terminal at ${o.fps} frames/s each (logs/sim.log); ` : ''}${brokerList(ctx)}`,
        `  Model:        the early-exit network split at exit 1, T 0.3; ${o.rolloutAfterMs > 0 ? `a gated rollout to exit 2 in ${o.rolloutAfterMs / 1000} s` : 'no rollout planned'}`,
        '',
        'Try:',
        '  npx gedge get models -p airport',
        '  npx gedge get instances -p airport -o wide',
        '  npx gedge messages airport-stats -p airport',
        '  npx gedge rollout status cctv -p airport',
      ],
      status: () => airportStatus(api),
      later: (say) => {
        if (o.rolloutAfterMs <= 0) return () => undefined;
        const t = setTimeout(() => {
          rollToExit2(api, { modelsDir: MODELS_DIR }).then(
            () => say('rollout: cctv moves its split from exit 1 to exit 2, gated at each terminal (npx gedge rollout status cctv -p airport)'),
            (e: unknown) => say(`rollout: cannot start (${(e as Error).message})`),
          );
        }, o.rolloutAfterMs);
        return () => clearTimeout(t);
      },
    };
  },
};

/** Frames, local exits, accuracy and latency over each terminal's last window (route airport-stats), and the rollout. */
async function airportStatus(api: ApiClient): Promise<string> {
  const [stats, svc] = await Promise.all([api.messages(AIRPORT_PROJECT, 'airport-stats', { limit: 50 }), api.get<Service>('Service', 'cctv', AIRPORT_PROJECT)]);
  const latest = new Map<string, { frames: number; correct: number; local: number; p50: number; p99: number; windowEnd: number }>();
  for (const m of stats.items) {
    if (m.encoding !== 'utf8') continue;
    const r = JSON.parse(m.payload) as { site: string; frames: number; correct: number; local: number; p50: number; p99: number; windowEnd: number };
    if ((latest.get(r.site)?.windowEnd ?? 0) <= r.windowEnd) latest.set(r.site, r);
  }
  const pct = (a: number, b: number) => `${b ? ((100 * a) / b).toFixed(0) : '-'} %`;
  const sites = [...latest].sort().map(([s, r]) => `${s} ${r.frames} frames, ${pct(r.local, r.frames)} local, ${pct(r.correct, r.frames)} right, p50 ${r.p50} / p99 ${r.p99} ms`);
  const ro = svc.status?.rollout;
  return `cctv: ${sites.join(' | ') || 'no frames yet'} | revision ${svc.status?.revision ?? '-'}${ro ? ` ${ro.phase}` : ''}`;
}

export const SCENARIOS: Record<Scenario['name'], Scenario> = { city, airport };
