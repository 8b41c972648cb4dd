import type { Obj } from '../api.ts';
import { payloadOf, type SinkRow } from './scenario-model.ts';

/**
 * The vehicles of the smart city as the Scenario page reads them: rows of the
 * routes city-vehicles and city-handovers (what each edge's roadside reporter
 * publishes, `gedge sim vehicles`), and each edge's offload state from its
 * node (status.overflowing, and the node's Overflowing / OverflowEnded
 * events for since when). Pure: no fetching, no rendering.
 */

export const VEHICLE_ROUTES = { vehicles: 'city-vehicles', handovers: 'city-handovers' } as const;
export const ASSIST_SERVICE = 'assist';

export interface VehicleDot {
  vehicle: string;
  /** The site it is attached to (whose reporter saw it last). */
  site: string;
  lat: number;
  lon: number;
  count: number | null;
  /** The node that answered it last. */
  node: string | null;
  at: number;
}

export interface HandoverRow {
  id: number;
  vehicle: string;
  from: string;
  to: string;
  interruptionMs: number;
  predicted: boolean | null;
  counterOk: boolean;
  node: string | null;
  at: number;
}

export interface AssistRow {
  site: string;
  windowEnd: number;
  requests: number;
  errors: number;
  p50: number | null;
  p99: number | null;
  /** The rush hour's lookups at this site in the window, and how many the edge answered itself. */
  surge: { requests: number; atEdge: number; p99: number | null } | null;
}

type Json = Record<string, unknown>;
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Each vehicle where the newest report of it puts it. */
export function vehicleDots(rows: SinkRow[]): VehicleDot[] {
  const latest = new Map<string, VehicleDot>();
  for (const r of rows) {
    const [kind, site, what] = r.topic.split('/');
    const p = kind === 'vehicles' && what === 'positions' ? payloadOf(r) : null;
    const at = num(p?.at);
    if (!p || !site || at === null || !Array.isArray(p.vehicles)) continue;
    for (const v of p.vehicles as Json[]) {
      const [vehicle, lat, lon] = [str(v.vehicle), num(v.lat), num(v.lon)];
      if (!vehicle || lat === null || lon === null) continue;
      const prev = latest.get(vehicle);
      if (!prev || at >= prev.at) latest.set(vehicle, { vehicle, site: str(p.site) ?? site, lat, lon, count: num(v.count), node: str(v.node), at });
    }
  }
  return [...latest.values()].sort((a, b) => natural(a.vehicle, b.vehicle));
}

/** Hand-overs, newest first. */
export function handoverRows(rows: SinkRow[], limit = 12): HandoverRow[] {
  const out: HandoverRow[] = [];
  for (const r of rows) {
    const p = r.topic.startsWith('handovers/') ? payloadOf(r) : null;
    const [vehicle, from, to, ms, at] = [str(p?.vehicle), str(p?.from), str(p?.to), num(p?.interruptionMs), num(p?.at)];
    if (!p || !vehicle || !from || !to || ms === null || at === null) continue;
    out.push({ id: r.id, vehicle, from, to, interruptionMs: ms, predicted: typeof p.predicted === 'boolean' ? p.predicted : null, counterOk: p.counterOk === true, node: str(p.node), at });
  }
  return out.sort((a, b) => b.at - a.at || b.id - a.id).slice(0, limit);
}

/** The newest window of the assistant's response times per site, by site name. */
export function assistRows(rows: SinkRow[]): AssistRow[] {
  const latest = new Map<string, AssistRow>();
  for (const r of rows) {
    const [kind, site, what] = r.topic.split('/');
    const p = kind === 'vehicles' && what === 'assist' ? payloadOf(r) : null;
    const windowEnd = num(p?.windowEnd);
    if (!p || !site || windowEnd === null) continue;
    const s = p.surge && typeof p.surge === 'object' ? (p.surge as Json) : null;
    const row: AssistRow = { site: str(p.site) ?? site, windowEnd, requests: num(p.requests) ?? 0, errors: num(p.errors) ?? 0, p50: num(p.p50), p99: num(p.p99), surge: s ? { requests: num(s.requests) ?? 0, atEdge: num(s.atEdge) ?? 0, p99: num(s.p99) } : null };
    const prev = latest.get(row.site);
    if (!prev || row.windowEnd >= prev.windowEnd) latest.set(row.site, row);
  }
  return [...latest.values()].sort((a, b) => natural(a.site, b.site));
}

export type OffloadNode = Obj<{ site: string }, { phase?: string; overflowing?: { project: string; service: string }[] }>;
export type NodeEvent = Obj<{ involved: { kind: string; name: string }; reason: string; message: string; at: string }>;

export interface OffloadState {
  site: string;
  node: string;
  state: 'edge' | 'overflowing';
  /** When the node said so (its newest Overflowing or OverflowEnded event for the assistant), ms since the epoch. */
  since: number | null;
  /** That event's message: why. */
  why: string | null;
}

/** Each edge node's offload state of the assistant: overflowing to the region now, or answering at the edge. */
export function offloadStates(nodes: OffloadNode[], edgeSites: Set<string>, events: NodeEvent[], project: string): OffloadState[] {
  const about = `Service ${project}/${ASSIST_SERVICE} `;
  return nodes
    .filter((n) => edgeSites.has(n.spec.site))
    .map((n) => {
      const overflowing = (n.status?.overflowing ?? []).some((o) => o.project === project && o.service === ASSIST_SERVICE);
      const last = events
        .filter((e) => e.spec.involved.kind === 'Node' && e.spec.involved.name === n.metadata.name && (e.spec.reason === 'Overflowing' || e.spec.reason === 'OverflowEnded') && e.spec.message.startsWith(about))
        .sort((a, b) => Date.parse(b.spec.at) - Date.parse(a.spec.at))[0];
      const agrees = last && (last.spec.reason === 'Overflowing') === overflowing;
      return { site: n.spec.site, node: n.metadata.name, state: overflowing ? ('overflowing' as const) : ('edge' as const), since: agrees ? Date.parse(last.spec.at) : null, why: agrees ? last.spec.message : null };
    })
    .sort((a, b) => natural(a.site, b.site) || natural(a.node, b.node));
}

const natural = new Intl.Collator(undefined, { numeric: true }).compare;
