import { LinkEmulator } from '../net/link-emulator.ts';
import { SimConfigError } from '../errors.ts';
import { parseDuration } from '../traffic/options.ts';

/**
 * The WAN between the city's sites, emulated on loopback: each site below the
 * cloud reaches the center through a link with its one-way delay (its agent
 * connects there), and the cloud reaches an edge's broker through another
 * (the center's MQTT sinks deliver the cloud's decisions there). Every
 * agent's probe responder sits behind a link of its own, so the latency
 * map measures the city's paths, not the machine's loopback, and so does its
 * endpoint gateway: endpoint traffic between sites crosses the WAN. An outage cuts
 * all of a site's links: the site is alone, its devices and its edge keep
 * working.
 */

export interface WanDelays {
  /** One way, between an edge site and its region. */
  edgeRegionMs: number;
  /** One way, between the region and the cloud. */
  regionCloudMs: number;
}
export const DEFAULT_WAN: WanDelays = { edgeRegionMs: 5, regionCloudMs: 20 };

export interface Outage {
  site: string;
  durationMs: number;
  /** From the start of the scenario. */
  afterMs: number;
}

/** `edge-b:30s` or `edge-b:30s@1m` (the cut starts 30 s in unless `@` says when). */
export function parseOutage(text: string): Outage {
  const m = /^([a-z0-9-]+):([0-9.a-z]+)(?:@([0-9.a-z]+))?$/.exec(text.trim());
  if (!m) throw new SimConfigError(`--outage: expected SITE:DURATION[@AFTER] (e.g. edge-b:30s@1m), got "${text}"`, { details: [{ path: 'outage', message: 'SITE:DURATION[@AFTER]' }] });
  return { site: m[1]!, durationMs: parseDuration(m[2]!, '--outage duration'), afterMs: m[3] ? parseDuration(m[3], '--outage start') : 30_000 };
}

interface SiteLinks {
  tier: 'cloud' | 'region' | 'edge';
  center?: LinkEmulator;
  broker?: LinkEmulator;
  probe?: LinkEmulator;
  gateway?: LinkEmulator;
}

export class Wan {
  private readonly sites = new Map<string, SiteLinks>();
  private readonly timers = new Set<NodeJS.Timeout>();

  /** `centerPort`: where the center listens (the sites' agents reach it across the WAN). */
  constructor(
    private readonly centerPort: number,
    readonly delays: WanDelays = DEFAULT_WAN,
  ) {}

  /** One-way delay between a site of this tier and the cloud. */
  delayOf(tier: 'region' | 'edge'): number {
    return tier === 'edge' ? this.delays.edgeRegionMs + this.delays.regionCloudMs : this.delays.regionCloudMs;
  }

  /** One way, between a site of this tier and the region, the hub every path between sites crosses. */
  hubDelayOf(tier: 'cloud' | 'region' | 'edge'): number {
    return tier === 'edge' ? this.delays.edgeRegionMs : tier === 'cloud' ? this.delays.regionCloudMs : 0;
  }

  /**
   * The host:port other agents probe a site's agent at: its probe responder
   * (listening on `probePort`) behind a link of twice the site's one-way
   * delay to the hub, each way. A probe from a to b crosses only b's link,
   * both ways: it measures 4 d_b, the other direction 4 d_a, and their mean,
   * which the center keeps as the sites' round trip, is 2 (d_a + d_b): the
   * round trip of the path a -> hub -> b (edge to cloud 50 ms, edge to edge
   * 20 ms, with the defaults).
   */
  async probeAddress(site: string, tier: 'cloud' | 'region' | 'edge', probePort: number): Promise<string> {
    const l = this.links(site, tier);
    l.probe ??= await LinkEmulator.start({ upstreamPort: probePort, delayMs: 2 * this.hubDelayOf(tier) });
    return `127.0.0.1:${l.probe.port}`;
  }

  /**
   * The host:port other sites' endpoints reach a site's instances at: its
   * agent's endpoint gateway (listening on `gatewayPort`) behind a link like
   * its probe responder's, so endpoint traffic between sites pays what the
   * latency map says it costs.
   */
  async gatewayAddress(site: string, tier: 'cloud' | 'region' | 'edge', gatewayPort: number): Promise<string> {
    const l = this.links(site, tier);
    l.gateway ??= await LinkEmulator.start({ upstreamPort: gatewayPort, delayMs: 2 * this.hubDelayOf(tier) });
    return `127.0.0.1:${l.gateway.port}`;
  }

  /** The URL a site's agent reaches the center at. */
  async centerUrl(site: string, tier: 'region' | 'edge'): Promise<string> {
    const l = this.links(site, tier);
    l.center ??= await LinkEmulator.start({ upstreamPort: this.centerPort, delayMs: this.delayOf(tier) });
    // The center speaks HTTPS; the emulator relays its bytes.
    return `https://127.0.0.1:${l.center.port}`;
  }

  /** The host:port the cloud reaches a site's broker at (listening on `brokerPort`). */
  async brokerAddress(site: string, tier: 'region' | 'edge', brokerPort: number): Promise<string> {
    const l = this.links(site, tier);
    l.broker ??= await LinkEmulator.start({ upstreamPort: brokerPort, delayMs: this.delayOf(tier) });
    return `127.0.0.1:${l.broker.port}`;
  }

  isCut(site: string): boolean {
    const l = this.sites.get(site);
    return (l?.center ?? l?.broker ?? l?.probe)?.isCut ?? false;
  }

  cut(site: string): void {
    const l = this.linksOf(site);
    l.center?.cut();
    l.broker?.cut();
    l.probe?.cut();
    l.gateway?.cut();
  }

  restore(site: string): void {
    const l = this.linksOf(site);
    l.center?.restore();
    l.broker?.restore();
    l.probe?.restore();
    l.gateway?.restore();
  }

  /** Cuts the site after `afterMs` for `durationMs`; `on` hears both moments. */
  schedule(o: Outage, on: (what: 'cut' | 'restored') => void = () => {}): void {
    this.linksOf(o.site);
    const later = (ms: number, fn: () => void) => {
      const t = setTimeout(() => (this.timers.delete(t), fn()), ms);
      this.timers.add(t);
    };
    later(o.afterMs, () => {
      this.cut(o.site);
      on('cut');
      later(o.durationMs, () => {
        this.restore(o.site);
        on('restored');
      });
    });
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    await Promise.all([...this.sites.values()].flatMap((l) => [l.center?.close(), l.broker?.close(), l.probe?.close(), l.gateway?.close()]));
  }

  private links(site: string, tier: 'cloud' | 'region' | 'edge'): SiteLinks {
    let l = this.sites.get(site);
    if (!l) {
      l = { tier };
      this.sites.set(site, l);
    }
    return l;
  }

  private linksOf(site: string): SiteLinks {
    const l = this.sites.get(site);
    if (!l) throw new SimConfigError(`no WAN link to site "${site}" (the sites behind the WAN: ${[...this.sites.keys()].join(', ')})`, { details: [{ path: 'outage', message: `unknown site ${site}` }] });
    return l;
  }
}
