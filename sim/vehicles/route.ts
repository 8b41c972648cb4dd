/**
 * Where the vehicles drive: a loop through the edge sites' locations (in the
 * order of their bearing around the sites' centre, so the loop does not cross
 * itself), at a constant pace of `legMs` from one site to the next. Pure:
 * positions are functions of time.
 */

export interface GeoPoint {
  lat: number;
  lon: number;
}

export interface Waypoint extends GeoPoint {
  name: string;
}

/** The sites in loop order: by bearing from their centre (ties by name). */
export function loopOrder(sites: readonly Waypoint[]): Waypoint[] {
  const c = { lat: mean(sites.map((s) => s.lat)), lon: mean(sites.map((s) => s.lon)) };
  const angle = (s: Waypoint) => Math.atan2(s.lat - c.lat, s.lon - c.lon);
  return [...sites].sort((a, b) => angle(a) - angle(b) || a.name.localeCompare(b.name));
}

/**
 * The position `elapsedMs` into the drive of a vehicle that starts `offset`
 * (0 to 1) of the way round the loop: each leg, waypoint to waypoint, takes
 * `legMs`. Two waypoints make a back-and-forth; one, a vehicle parked there.
 */
export function positionAt(loop: readonly Waypoint[], legMs: number, offset: number, elapsedMs: number): GeoPoint {
  if (loop.length === 1) return { lat: loop[0]!.lat, lon: loop[0]!.lon };
  const legs = elapsedMs / legMs + offset * loop.length;
  const k = Math.floor(legs) % loop.length;
  const f = legs - Math.floor(legs);
  const a = loop[k]!;
  const b = loop[(k + 1) % loop.length]!;
  return { lat: a.lat + (b.lat - a.lat) * f, lon: a.lon + (b.lon - a.lon) * f };
}

/** Distance in metres (equirectangular: exact enough across a city). */
export function metres(a: GeoPoint, b: GeoPoint): number {
  const rad = Math.PI / 180;
  const x = (b.lon - a.lon) * rad * Math.cos(((a.lat + b.lat) / 2) * rad);
  return 6_371_000 * Math.hypot(x, (b.lat - a.lat) * rad);
}

/** The site nearest a point: the one a vehicle there is attached to (ties by name). */
export function nearestSite(at: GeoPoint, sites: readonly Waypoint[]): string {
  let best = sites[0]!;
  for (const s of sites) {
    const d = metres(at, s) - metres(at, best);
    if (d < 0 || (d === 0 && s.name < best.name)) best = s;
  }
  return best.name;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
