import type { GeoPoint } from '../../core/index.ts';

/** Where a client was, and when (ms since the epoch). */
export interface Fix extends GeoPoint {
  at: number;
}

/** Fixes a trajectory keeps (the newest), and how old the oldest may be. */
export const FIXES_KEPT = 5;
export const FIX_WINDOW_MS = 60_000;
/** Clients whose trajectories a node keeps at most (the least recently moved go first). */
export const TRACKED_MAX = 100_000;
/** Points the projected path is looked at along. */
const STEPS = 8;

/** A distance good for comparing places within a city or a region (degrees, longitude scaled by latitude). */
function distance(a: GeoPoint, b: GeoPoint): number {
  const x = (b.lon - a.lon) * Math.cos((((a.lat + b.lat) / 2) * Math.PI) / 180);
  return Math.hypot(x, b.lat - a.lat);
}

function nearest(p: GeoPoint, sites: readonly { site: string; location: GeoPoint }[]): string | undefined {
  let best: { site: string; d: number } | undefined;
  for (const s of sites) {
    const d = distance(p, s.location);
    if (!best || d < best.d || (d === best.d && s.site < best.site)) best = { site: s.site, d };
  }
  return best?.site;
}

/**
 * The site a moving client reaches next within `lookaheadMs`: its velocity
 * from its fixes (the oldest and newest kept), its path projected that far
 * ahead, and the first point of the path nearer another site than the one
 * it is nearest now. Undefined when it stays (or stands still, or too
 * little is known).
 */
export function nextSite(fixes: readonly Fix[], sites: readonly { site: string; location: GeoPoint }[], lookaheadMs: number): string | undefined {
  if (fixes.length < 2 || sites.length < 2) return undefined;
  const first = fixes[0]!;
  const last = fixes[fixes.length - 1]!;
  const dt = last.at - first.at;
  if (dt <= 0) return undefined;
  const v = { lat: (last.lat - first.lat) / dt, lon: (last.lon - first.lon) / dt };
  if (v.lat === 0 && v.lon === 0) return undefined;
  const now = nearest(last, sites);
  for (let i = 1; i <= STEPS; i++) {
    const t = (lookaheadMs * i) / STEPS;
    const ahead = nearest({ lat: last.lat + v.lat * t, lon: last.lon + v.lon * t }, sites);
    if (ahead !== now) return ahead;
  }
  return undefined;
}

/** Each client's latest fixes, for as many clients as TRACKED_MAX. */
export class Trajectories {
  private readonly byClient = new Map<string, Fix[]>();

  /** Adds a fix (an older one than the newest kept is ignored) and returns the client's fixes now. */
  add(id: string, fix: Fix): readonly Fix[] {
    const kept = (this.byClient.get(id) ?? []).filter((f) => fix.at - f.at <= FIX_WINDOW_MS);
    if (kept.length && kept[kept.length - 1]!.at >= fix.at) return kept;
    kept.push(fix);
    if (kept.length > FIXES_KEPT) kept.shift();
    // Re-inserted: the map's order is by last move, and the stalest goes first when full.
    this.byClient.delete(id);
    this.byClient.set(id, kept);
    if (this.byClient.size > TRACKED_MAX) this.byClient.delete(this.byClient.keys().next().value!);
    return kept;
  }

  forget(id: string): void {
    this.byClient.delete(id);
  }
}
