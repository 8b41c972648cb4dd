import { LinkEmulator } from '../net/link-emulator.ts';
import { SimConfigError } from '../errors.ts';
import { parseDuration } from '../traffic/options.ts';

/**
 * The WAN between the city's sites, emulated on loopback: each site below the
 * cloud reaches the center through a link with its one-way delay (its agent
 * connects there), and the cloud reaches an edge's broker through another
 * (the center's MQTT sinks deliver the cloud's decisions there). An outage
 * cuts both: the site is alone, its devices and its edge keep working.
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
  tier: 'region' | 'edge';
  center?: LinkEmulator;
  broker?: LinkEmulator;
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
    return (l?.center ?? l?.broker)?.isCut ?? false;
  }

  cut(site: string): void {
    const l = this.linksOf(site);
    l.center?.cut();
    l.broker?.cut();
  }

  restore(site: string): void {
    const l = this.linksOf(site);
    l.center?.restore();
    l.broker?.restore();
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
    await Promise.all([...this.sites.values()].flatMap((l) => [l.center?.close(), l.broker?.close()]));
  }

  private links(site: string, tier: 'region' | 'edge'): SiteLinks {
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
