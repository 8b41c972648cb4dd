import type { GeoPoint } from '../core/index.ts';

/** Where clients are, resolved: sites (named, and those of the devices selected) and a point. */
export interface ClientSpots {
  sites?: string[];
  location?: GeoPoint;
}

/** What the client estimate needs of a site. */
export interface LocatedSite {
  name: string;
  location: GeoPoint | undefined;
}

/** Where a latency figure comes from: a fresh measurement, the last one before it went stale, a declared plan, or within a site. */
export type LatencySource = 'measured' | 'stale' | 'declared' | 'local';

export interface LatencyEntry {
  rttMs: number;
  source: LatencySource;
}

/** Round trip in fiber per km: light travels ~200 km/ms in glass, there and back. */
export const FIBER_RTT_MS_PER_KM = 1 / 100;

/** The site-by-site round-trip table (symmetric). Within a site the round trip is taken as 0. */
export class LatencyTable {
  private readonly rows = new Map<string, Map<string, LatencyEntry>>();
  /** Bumped on every change, so derivations from the table (site plans) know when they are stale. */
  version = 0;

  set(a: string, b: string, rttMs: number, source: LatencySource): void {
    this.row(a).set(b, { rttMs, source });
    this.row(b).set(a, { rttMs, source });
    this.version++;
  }

  delete(a: string, b: string): void {
    if (this.rows.get(a)?.delete(b)) this.version++;
    this.rows.get(b)?.delete(a);
  }

  get(a: string, b: string): LatencyEntry | undefined {
    if (a === b) return LOCAL;
    return this.rows.get(a)?.get(b);
  }

  private row(a: string): Map<string, LatencyEntry> {
    let r = this.rows.get(a);
    if (!r) this.rows.set(a, (r = new Map()));
    return r;
  }
}

const LOCAL: LatencyEntry = { rttMs: 0, source: 'local' };

/** Great-circle distance in km (haversine). */
export function distanceKm(p: GeoPoint, q: GeoPoint): number {
  const rad = Math.PI / 180;
  const dLat = (q.lat - p.lat) * rad;
  const dLon = (q.lon - p.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(p.lat * rad) * Math.cos(q.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * Estimates the clients' round trip to a site. Clients at sites: the worst of
 * those sites' round trips (the SLA must hold for all of them). Clients at a
 * point: they reach the nearest site that has a location, so the fiber round
 * trip to it plus that site's round trip. Both given: the worse. Undefined
 * when a figure is missing (no link measured or declared).
 */
export class ClientLatency {
  private accessCache = new Map<string, { site: LocatedSite; km: number } | null>();
  private cacheVersion = -1;

  constructor(
    private readonly table: LatencyTable,
    private readonly sites: Map<string, LocatedSite>,
  ) {}

  /** The site a point's clients reach first, and how far it is; null when no site has a location. */
  access(p: GeoPoint, siteVersion: number): { site: LocatedSite; km: number } | null {
    if (siteVersion !== this.cacheVersion) {
      this.accessCache = new Map();
      this.cacheVersion = siteVersion;
    }
    const key = `${p.lat},${p.lon}`;
    let hit = this.accessCache.get(key);
    if (hit === undefined) {
      hit = null;
      for (const s of this.sites.values()) {
        if (!s.location) continue;
        const km = distanceKm(p, s.location);
        if (!hit || km < hit.km || (km === hit.km && s.name < hit.site.name)) hit = { site: s, km };
      }
      if (this.accessCache.size > 1000) this.accessCache.clear();
      this.accessCache.set(key, hit);
    }
    return hit;
  }

  estimate(clients: ClientSpots, site: string, siteVersion: number): LatencyEntry | undefined {
    // No closures here: this runs once per site for every placement.
    let worst: LatencyEntry | undefined;
    const sites = clients.sites;
    if (sites) {
      for (let i = 0; i < sites.length; i++) {
        const e = this.table.get(sites[i]!, site);
        if (!e) return undefined;
        if (!worst || e.rttMs > worst.rttMs) worst = e;
      }
    }
    if (clients.location) {
      const a = this.access(clients.location, siteVersion);
      const hop = a && this.table.get(a.site.name, site);
      if (!hop) return undefined;
      const rttMs = a.km * FIBER_RTT_MS_PER_KM + hop.rttMs;
      if (!worst || rttMs > worst.rttMs) worst = { rttMs, source: hop.source };
    }
    return worst;
  }
}
