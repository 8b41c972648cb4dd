import { waitFor, type ApiClient, type Site } from '../../core/index.ts';
import { SimConfigError } from '../errors.ts';
import { handoverCounts, wasPredicted } from './handover-probe.ts';
import { parseVehicleOptions, type VehicleOptionsInput } from './options.ts';
import { Reporters } from './reporter.ts';
import { loopOrder, type Waypoint } from './route.ts';
import { SiteEndpoints } from './site-endpoints.ts';
import { Surge } from './surge.ts';
import { Vehicle, type Handover } from './vehicle.ts';
import { VehicleCounters, type VehicleStats } from './vehicle-stats.ts';

export interface VehicleSimOptions extends VehicleOptionsInput {
  /** An admin client: the simulator provisions its reporters and reads the nodes' hand-over counts. */
  api: ApiClient;
  log?: (line: string) => void;
  /** Each hand-over as it is measured (tests). */
  onHandover?: (h: Handover) => void;
}

export interface VehicleSim {
  readonly sites: readonly string[];
  /** Model time 0 (ms since the epoch). */
  readonly startedAt: number;
  stats(): VehicleStats;
  readonly handovers: readonly Handover[];
  /** Starts a rush hour now, as planned (its site, rate, length) but off its schedule; false without a plan or while one runs. */
  surgeNow(): boolean;
  /** Stops the vehicles and the surge, disconnects the reporters, revokes their credentials; the final stats. Idempotent. */
  stop(): Promise<VehicleStats>;
  /** Settles when the run is over: after stop() or `durationMs`. */
  readonly done: Promise<VehicleStats>;
}

/**
 * Vehicles driving through the edge sites with the assistant (route guidance
 * whose session follows them), and a rush hour at one site now and then.
 * Resolves once every site's endpoint answers and the reporters are connected.
 */
export async function startVehicleSim(opts: VehicleSimOptions): Promise<VehicleSim> {
  const { api, log = () => undefined, onHandover, ...input } = opts;
  const o = parseVehicleOptions(input);
  const names = Object.keys(o.resolvers);
  const sites = await locate(api, names);
  const loop = loopOrder(sites);
  const endpoints = new SiteEndpoints(o.resolvers, o.project, o.service);
  // `gedge up` starts the simulator as the assistant deploys: wait for an instance behind every site's endpoint.
  for (const s of names) {
    let last = '';
    await waitFor(() => endpoints.at(s).catch((e: Error) => void (last = e.message)), o.readyTimeoutMs, `${o.service} served at ${s}`, 500).catch((e: Error) => Promise.reject(new Error(`${e.message}: ${last}`)));
  }
  const reporters = await Reporters.start(api, o.project, names, log);
  const counters = new VehicleCounters();

  const startedAt = Date.now();
  const vehicles = Array.from({ length: o.vehicles }, (_, k) =>
    new Vehicle(`v${k + 1}`, k / o.vehicles, {
      loop,
      sites,
      legMs: o.legMs,
      intervalMs: o.intervalMs,
      startedAt,
      endpoints,
      counts: (node) => handoverCounts(api, node),
      predicted: wasPredicted,
      onAnswer: (a) => counters.answer(a),
      onHandover: (h) => {
        counters.handover(h);
        reporters.handover(h);
        onHandover?.(h);
        log(`hand-over: ${h.vehicle} ${h.from} -> ${h.to} in ${h.interruptionMs} ms (${h.predicted === null ? 'prediction unknown' : h.predicted ? 'predicted' : 'not predicted'}, counter ${h.counterOk ? 'ok' : 'BROKEN'})`);
      },
    }),
  );
  const drives = vehicles.map((v) => v.drive());
  const surgeAt = o.surge ? sites.find((s) => s.name === o.surge!.site)! : undefined;
  const surge = o.surge
    ? new Surge(o.surge, surgeAt!, endpoints, (s) => counters.surgeSample(o.surge!.site, s), (on) => log(on ? `surge: ${o.surge!.rate} lookups/s at ${o.surge!.site} for ${o.surge!.forMs / 1000} s` : `surge at ${o.surge!.site} over`))
    : undefined;
  surge?.start();
  const positions = setInterval(() => {
    for (const site of names) {
      const here = vehicles.filter((v) => v.site === site);
      reporters.positions(site, here.map((v) => ({ vehicle: v.name, lat: round6(v.position.lat), lon: round6(v.position.lon), count: v.count ?? null, node: v.node ?? null })));
    }
  }, o.positionsEveryMs);
  const windows = setInterval(() => {
    for (const w of counters.cut(names, o.surge?.site)) reporters.assist(w);
  }, o.windowMs);
  log(`running: ${o.vehicles} vehicles round ${loop.map((w) => w.name).join(' -> ')}, ${o.legMs / 1000} s a leg${o.surge ? `; a surge at ${o.surge.site} every ${o.surge.everyMs / 1000} s for ${o.surge.forMs / 1000} s` : ''}`);

  const stats = () => counters.stats(startedAt, vehicles.length, { started: surge?.started ?? 0, active: surge?.active ?? false });
  let settle: (s: VehicleStats) => void = () => undefined;
  const done = new Promise<VehicleStats>((resolve) => (settle = resolve));
  let stopping: Promise<VehicleStats> | undefined;
  const stop = (): Promise<VehicleStats> => {
    stopping ??= (async () => {
      clearTimeout(durationTimer);
      clearInterval(positions);
      clearInterval(windows);
      for (const v of vehicles) v.stop();
      await surge?.stop();
      await Promise.allSettled(drives);
      await reporters.close();
      const final = stats();
      settle(final);
      return final;
    })();
    return stopping;
  };
  const durationTimer = o.durationMs > 0 ? setTimeout(() => void stop(), o.durationMs) : undefined;
  const surgeNow = () => {
    if (!surge || surge.active) return false;
    surge.run();
    return true;
  };
  return { sites: names, startedAt, stats, handovers: counters.handovers, surgeNow, stop, done };
}

/** The sites' locations (spec.location), which the vehicles drive between. */
async function locate(api: ApiClient, names: string[]): Promise<Waypoint[]> {
  const all = new Map((await api.list<Site>('Site')).items.map((s) => [s.metadata.name, s]));
  const problems = names.flatMap((n) => {
    const s = all.get(n);
    return !s ? [{ path: `resolvers.${n}`, message: `site "${n}" does not exist` }] : !s.spec.location ? [{ path: `resolvers.${n}`, message: `site "${n}" has no location` }] : [];
  });
  if (problems.length) throw new SimConfigError(`--resolvers: ${problems.map((p) => p.message).join('; ')}`, { details: problems });
  return names.map((n) => ({ name: n, lat: all.get(n)!.spec.location!.lat, lon: all.get(n)!.spec.location!.lon }));
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
