import type { Obj } from '../api.ts';
import type { SinkMessage as SinkRow, SinkMessagesPage as SinkPage } from '../../../core/device-schema.ts';

/**
 * The smart-city scenario as the Scenario page reads it: rows of the
 * project's table-sink routes (GET /api/v1/routes/R/messages?project=city,
 * core/device-schema.ts sinkMessageSchema) turned into typed records, and the
 * sums the page shows. Pure: no fetching, no rendering.
 */

export const CITY_PROJECT = 'city';
export const ROUTES = { stats: 'city-stats', view: 'city-view', incidents: 'incidents' } as const;
export const VIAS = ['edge', 'cloud'] as const;
export type Via = (typeof VIAS)[number];

/** A row of a table sink and a page of them, as the messages API returns them (oldest first): core's shapes, types only. */
export type { SinkRow, SinkPage };

export interface LatencyRow {
  site: string;
  via: Via;
  commands: number;
  p50: number;
  p99: number;
  max: number;
  /** ms since the epoch. */
  windowEnd: number;
}
export interface VolumeRow {
  site: string;
  stream: 'traffic' | 'flows';
  messages: number;
  bytes: number;
  windowEnd: number;
}
export interface CityRow {
  site: string;
  vehicles: number;
  queueAvg: number;
  queueMax: number;
  /** Intersections counted, or (the rule in examples/smart-city) how many per-intersection reports made the row; either may be left out. */
  intersections: number | null;
  reports: number | null;
  windowEnd: number;
}
export interface IncidentRow {
  site: string;
  intersection: string;
  approach: string;
  speedKmh: number;
  occupancy: number;
  queue: number;
  windowEnd: number;
  id: number;
}

type Json = Record<string, unknown>;

/** A row's payload as a JSON object; null when it is not one. */
export function payloadOf(r: SinkRow): Json | null {
  try {
    const text = r.encoding === 'base64' ? new TextDecoder().decode(Uint8Array.from(atob(r.payload), (c) => c.charCodeAt(0))) : r.payload;
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
  } catch {
    return null;
  }
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** A window's end in ms: a rule's window_end() is ms (seconds and ISO times are accepted too); else when the edge received the row. */
function windowEndOf(p: Json, r: SinkRow): number {
  const n = num(p.windowEnd);
  // Below 1e11 it cannot be ms since the epoch of any recent date (that is 1973), so it is seconds.
  if (n !== null) return n < 1e11 ? n * 1000 : n;
  const d = typeof p.windowEnd === 'string' ? Date.parse(p.windowEnd) : NaN;
  return Number.isFinite(d) ? d : Date.parse(r.at);
}

/** `stats/<site>/<kind>`: the site from the topic when the payload leaves it out. */
function topicSite(topic: string, prefix: string, suffix?: string): string | null {
  const parts = topic.split('/');
  if (parts[0] !== prefix || !parts[1]) return null;
  if (suffix !== undefined && (parts.length !== 3 || parts[2] !== suffix)) return null;
  return parts[1];
}

export function latencyRows(rows: SinkRow[]): LatencyRow[] {
  const out: LatencyRow[] = [];
  for (const r of rows) {
    const site = topicSite(r.topic, 'stats', 'latency');
    const p = site ? payloadOf(r) : null;
    if (!p) continue;
    const via = p.via === 'edge' || p.via === 'cloud' ? p.via : null;
    const [p50, p99] = [num(p.p50), num(p.p99)];
    if (!via || p50 === null || p99 === null) continue;
    out.push({ site: str(p.site) ?? site!, via, commands: num(p.commands) ?? 0, p50, p99, max: num(p.max) ?? p99, windowEnd: windowEndOf(p, r) });
  }
  return out;
}

export function volumeRows(rows: SinkRow[]): VolumeRow[] {
  const out: VolumeRow[] = [];
  for (const r of rows) {
    const site = topicSite(r.topic, 'stats', 'volume');
    const p = site ? payloadOf(r) : null;
    if (!p || (p.stream !== 'traffic' && p.stream !== 'flows')) continue;
    out.push({ site: str(p.site) ?? site!, stream: p.stream, messages: num(p.messages) ?? 0, bytes: num(p.bytes) ?? 0, windowEnd: windowEndOf(p, r) });
  }
  return out;
}

/** The newest row per site of city-view (topic `city/<site>`), by site name. */
export function cityRows(rows: SinkRow[]): CityRow[] {
  const latest = new Map<string, CityRow>();
  for (const r of rows) {
    const site = topicSite(r.topic, 'city');
    const p = site ? payloadOf(r) : null;
    if (!p) continue;
    const row: CityRow = { site: str(p.site) ?? site!, vehicles: num(p.vehicles) ?? 0, queueAvg: num(p.queueAvg) ?? 0, queueMax: num(p.queueMax) ?? 0, intersections: num(p.intersections), reports: num(p.reports), windowEnd: windowEndOf(p, r) };
    const prev = latest.get(row.site);
    if (!prev || row.windowEnd >= prev.windowEnd) latest.set(row.site, row);
  }
  return [...latest.values()].sort((a, b) => a.site.localeCompare(b.site));
}

/** Incidents, newest first. */
export function incidentRows(rows: SinkRow[], limit = 10): IncidentRow[] {
  const out: IncidentRow[] = [];
  for (const r of rows) {
    const p = payloadOf(r);
    const site = p && str(p.site);
    if (!p || !site) continue;
    out.push({ site, intersection: str(p.intersection) ?? '–', approach: str(p.approach) ?? '–', speedKmh: num(p.speedKmh) ?? 0, occupancy: num(p.occupancy) ?? 0, queue: num(p.queue) ?? 0, windowEnd: windowEndOf(p, r), id: r.id });
  }
  return out.sort((a, b) => b.windowEnd - a.windowEnd || b.id - a.id).slice(0, limit);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export interface ViaSummary {
  /** Over the newest window of each site: the median of the sites' p50, the largest p99. */
  p50: number | null;
  p99: number | null;
  /** Commands over every row read. */
  commands: number;
  /** The newest row per site. */
  perSite: Map<string, LatencyRow>;
}
export interface LatencySummary {
  via: Record<Via, ViaSummary>;
  /** cloud p99 / edge p99, when both are there and edge's is above 0. */
  ratio: number | null;
  sites: string[];
  /** The period the rows cover (ms), or null without rows. */
  from: number | null;
  to: number | null;
  /** p99 over time, one point per window (max over sites), for a chart: times in epoch seconds. */
  series: { t: number[]; edge: (number | null)[]; cloud: (number | null)[] };
}

/** Windows are 5 s; sites' rows of one window are put at the same time even if their ends differ by a few ms. */
export const WINDOW_MS = 5000;

export function summarizeLatency(rows: LatencyRow[]): LatencySummary {
  const via = {} as Record<Via, ViaSummary>;
  for (const v of VIAS) {
    const mine = rows.filter((r) => r.via === v);
    const perSite = new Map<string, LatencyRow>();
    for (const r of mine) {
      const prev = perSite.get(r.site);
      if (!prev || r.windowEnd >= prev.windowEnd) perSite.set(r.site, r);
    }
    const newest = [...perSite.values()];
    via[v] = {
      p50: newest.length ? median(newest.map((r) => r.p50)) : null,
      p99: newest.length ? Math.max(...newest.map((r) => r.p99)) : null,
      commands: mine.reduce((a, r) => a + r.commands, 0),
      perSite,
    };
  }
  const buckets = new Map<number, Record<Via, number | null>>();
  for (const r of rows) {
    const key = Math.round(r.windowEnd / WINDOW_MS) * WINDOW_MS;
    const b = buckets.get(key) ?? { edge: null, cloud: null };
    b[r.via] = Math.max(b[r.via] ?? -Infinity, r.p99);
    buckets.set(key, b);
  }
  const times = [...buckets.keys()].sort((a, b) => a - b);
  const ends = rows.map((r) => r.windowEnd);
  const { edge, cloud } = via;
  return {
    via,
    ratio: edge.p99 !== null && cloud.p99 !== null && edge.p99 > 0 ? cloud.p99 / edge.p99 : null,
    sites: [...new Set(rows.map((r) => r.site))].sort(),
    from: ends.length ? Math.min(...ends) : null,
    to: ends.length ? Math.max(...ends) : null,
    series: { t: times.map((k) => k / 1000), edge: times.map((k) => buckets.get(k)!.edge), cloud: times.map((k) => buckets.get(k)!.cloud) },
  };
}

export interface VolumeSum {
  rawBytes: number;
  rawMessages: number;
  upBytes: number;
  upMessages: number;
  /** raw / uplinked bytes; null until something went up. */
  ratio: number | null;
}
export interface VolumeSummary {
  total: VolumeSum;
  perSite: { site: string; sum: VolumeSum }[];
  from: number | null;
  to: number | null;
}

function sum(rows: VolumeRow[]): VolumeSum {
  const s = { rawBytes: 0, rawMessages: 0, upBytes: 0, upMessages: 0 };
  for (const r of rows) {
    if (r.stream === 'traffic') {
      s.rawBytes += r.bytes;
      s.rawMessages += r.messages;
    } else {
      s.upBytes += r.bytes;
      s.upMessages += r.messages;
    }
  }
  return { ...s, ratio: s.upBytes > 0 ? s.rawBytes / s.upBytes : null };
}

export function summarizeVolume(rows: VolumeRow[]): VolumeSummary {
  const sites = [...new Set(rows.map((r) => r.site))].sort();
  const ends = rows.map((r) => r.windowEnd);
  return {
    total: sum(rows),
    perSite: sites.map((site) => ({ site, sum: sum(rows.filter((r) => r.site === site)) })),
    from: ends.length ? Math.min(...ends) : null,
    to: ends.length ? Math.max(...ends) : null,
  };
}

// ---- intersections (Devices labelled traffic.gedge.io/role=light) ----

export const ROLE_LABEL = 'traffic.gedge.io/role';
export const INTERSECTION_LABEL = 'traffic.gedge.io/intersection';

export type LightDevice = Obj<{ site: string }, { connected?: boolean; node?: string; lastSeen?: string; reported?: Record<string, unknown> }>;

export interface Light {
  site: string;
  intersection: string;
  device: string;
  connected: boolean;
  phase: 'NS' | 'EW' | null;
  greenNsMs: number | null;
  greenEwMs: number | null;
  via: Via | null;
}

/** i2 before i10. */
const natural = new Intl.Collator(undefined, { numeric: true }).compare;

/** The city's traffic lights per site (sites and intersections in natural order). */
export function lightsBySite(devices: Obj[]): { site: string; lights: Light[] }[] {
  const bySite = new Map<string, Light[]>();
  for (const o of devices as LightDevice[]) {
    if (o.metadata.project !== CITY_PROJECT || o.metadata.labels?.[ROLE_LABEL] !== 'light') continue;
    const rep = o.status?.reported ?? {};
    const light: Light = {
      site: o.spec.site,
      intersection: o.metadata.labels[INTERSECTION_LABEL] ?? o.metadata.name,
      device: o.metadata.name,
      connected: o.status?.connected ?? false,
      phase: rep.phase === 'NS' || rep.phase === 'EW' ? rep.phase : null,
      greenNsMs: num(rep.greenNsMs),
      greenEwMs: num(rep.greenEwMs),
      via: rep.via === 'edge' || rep.via === 'cloud' ? rep.via : null,
    };
    const list = bySite.get(light.site) ?? [];
    list.push(light);
    bySite.set(light.site, list);
  }
  return [...bySite.entries()].sort(([a], [b]) => natural(a, b)).map(([site, lights]) => ({ site, lights: lights.sort((a, b) => natural(a.intersection, b.intersection)) }));
}
