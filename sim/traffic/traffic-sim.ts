import type { ApiClient } from '../../core/index.ts';
import { connectAll, SimDevice } from './devices.ts';
import { IntersectionSim } from './intersection.ts';
import { APPROACHES, defaultModelConfig, IntersectionModel, type Phase } from './model.ts';
import { parseTrafficOptions, type TrafficOptionsInput } from './options.ts';
import { provisionTraffic, revokeCredentials } from './provision.ts';
import { mulberry32, streamSeed } from './rng.ts';
import { TrafficCounters, type TrafficStats } from './stats.ts';
import type { IntersectionLayout } from './layout.ts';

export interface TrafficSimOptions extends TrafficOptionsInput {
  /** An admin client: the simulator provisions the project, devices and credentials. */
  api: ApiClient;
  /** Progress lines (provisioning, connecting); silent when omitted. */
  log?: (line: string) => void;
}

export interface TrafficSim {
  readonly project: string;
  readonly sites: readonly string[];
  readonly intersections: readonly IntersectionLayout[];
  /** Model time 0 (ms since the epoch): incidents count from here. */
  readonly startedAt: number;
  stats(): TrafficStats;
  /** Stops the sensors, disconnects every device, revokes this run's credentials; the final stats. Idempotent. */
  stop(): Promise<TrafficStats>;
  /** Settles when the run is over: after stop() or `durationMs`. */
  readonly done: Promise<TrafficStats>;
}

/**
 * Provisions (idempotently), connects every device to its site's edge broker,
 * then runs: sensors publish `rate` times a second, lights follow commands.
 * Resolves once every device is connected and every light subscribed.
 */
export async function startTrafficSim(opts: TrafficSimOptions): Promise<TrafficSim> {
  const { api, log = () => undefined, ...input } = opts;
  const o = parseTrafficOptions(input);
  const prov = await provisionTraffic(api, o, log);
  const counters = new TrafficCounters();
  const device = (name: string): SimDevice => new SimDevice(prov.devices.get(name)!, counters, prov.ca);
  const all: SimDevice[] = [];
  const groups = prov.layout.map((i) => {
    const loops = Object.fromEntries(APPROACHES.map((a) => [a, device(i.loops[a])])) as Record<(typeof APPROACHES)[number], SimDevice>;
    const g = { loops, camera: device(i.camera), light: device(i.light) };
    all.push(...APPROACHES.map((a) => loops[a]), g.camera, g.light);
    return g;
  });
  const revoke = (): Promise<number> => revokeCredentials(api, prov.project, [...prov.devices.values()].map((d) => d.credential));

  log(`connecting ${all.length} devices...`);
  try {
    await connectAll(all, { concurrency: o.connectConcurrency, timeoutMs: o.connectTimeoutMs });
  } catch (e) {
    await revoke().catch(() => undefined);
    throw e;
  }

  const startedAt = Date.now();
  const periodMs = 1000 / o.rate;
  const intersections = prov.layout.map((layout, k) => {
    const cfg = defaultModelConfig(streamSeed(o.seed, 'intersection', layout.site, layout.id), o.cycleMs);
    cfg.incidents = o.incidents.filter((x) => x.site === layout.site && x.intersection === layout.id);
    cfg.signalOffsetMs = Math.floor(mulberry32(streamSeed(o.seed, 'signal-offset', layout.site, layout.id))() * (cfg.greenNsMs + cfg.greenEwMs));
    return new IntersectionSim(layout, new IntersectionModel(cfg), groups[k]!, { startedAt, periodMs, offsetMs: (k / prov.layout.length) * periodMs, counters });
  });
  try {
    await Promise.all(intersections.map((i) => i.start()));
  } catch (e) {
    for (const i of intersections) i.stop();
    await Promise.all(all.map((d) => d.close(0)));
    await revoke().catch(() => undefined);
    throw e;
  }
  log(`running: ${prov.layout.length} intersections, ${all.length} devices, ${o.rate} messages/s per sensor`);

  const stats = (): TrafficStats => {
    const now = Date.now();
    const per = intersections.map((i) => i.stats());
    const phases: Record<Phase, number> = { NS: 0, EW: 0 };
    for (const p of per) phases[p.phase]++;
    return {
      elapsedMs: now - startedAt,
      devices: { total: all.length, connected: all.filter((d) => d.connected).length },
      messages: { sent: counters.sent, bytes: counters.bytes, perSecond: counters.perSecond(now, startedAt), dropped: counters.dropped },
      commands: counters.commands(),
      intersections: per,
      phases,
    };
  };

  let settle: (s: TrafficStats) => void = () => undefined;
  const done = new Promise<TrafficStats>((resolve) => (settle = resolve));
  let stopping: Promise<TrafficStats> | undefined;
  const stop = (): Promise<TrafficStats> => {
    stopping ??= (async () => {
      clearTimeout(durationTimer);
      const final = stats();
      for (const i of intersections) i.stop();
      await Promise.all(all.map((d) => d.close()));
      const failed = await revoke().catch(() => all.length);
      if (failed) log(`${failed} credentials could not be revoked (gedge get devicecredentials -p ${prov.project})`);
      final.devices.connected = all.filter((d) => d.connected).length;
      settle(final);
      return final;
    })();
    return stopping;
  };
  const durationTimer = o.durationMs > 0 ? setTimeout(() => void stop(), o.durationMs) : undefined;

  return { project: prov.project, sites: prov.sites, intersections: prov.layout, startedAt, stats, stop, done };
}
