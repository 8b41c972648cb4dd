import { parseDuration } from '../../../core/duration.ts';
import type { EdgeUplinkStatus } from '../../../core/uplink-wire.ts';
import type { Condition, LinkState, NodePhase, Resources } from '../../../core/resources.ts';
import type { Obj } from '../api.ts';
import type { OverviewData } from '../pages/overview.tsx';

/** The shapes the topology and node pages read (core/resources.ts, narrowed; conditions and capacities are core's, types only). */

export type SiteSummary = OverviewData['sites'][number];
export type Tier = SiteSummary['tier'];
export const TIERS: Tier[] = ['cloud', 'region', 'edge'];

export type LinkObj = Obj<{ sites: [string, string]; declaredRtt?: string }, { state: LinkState; rttMs: number | null; jitterMs?: number; measuredAt: string }>;

/** A node's uplink queue as its last heartbeat reported it (core's shape, types only). */
export type Uplink = EdgeUplinkStatus & { at: string };
export type NodeObj = Obj<
  { site: string; capacity?: Resources; unschedulable?: boolean; taints?: { key: string; value?: string; effect?: string }[] },
  {
    phase?: NodePhase;
    lastHeartbeatAt?: string;
    since?: string;
    usage?: { cpu: number; memoryMiB: number; diskMiB: number; netRxBps?: number; netTxBps?: number; at: string };
    agent?: { version: string; os: string; arch: string; pid: number };
    mqtt?: { host: string; tcp?: number; ws?: number; tls?: number; wss?: number };
    runtimes?: string[];
    uplink?: Uplink;
    conditions?: Condition[];
  }
>;

/** How a link is drawn: the colour says how far, the text (RTT, state) says it too. */
export type LinkTone = 'ok' | 'warn' | 'bad' | 'stale' | 'planned';

export function linkTone(l: LinkObj): LinkTone {
  const s = l.status;
  if (!s) return 'planned';
  if (s.state === 'Down') return 'bad';
  if (s.state === 'Stale' || s.rttMs === null) return 'stale';
  return s.rttMs < 10 ? 'ok' : s.rttMs < 50 ? 'warn' : 'bad';
}

/** The round trip to show: measured, else the declared plan. */
export function linkRtt(l: LinkObj): number | null {
  return l.status?.rttMs ?? (l.spec.declaredRtt === undefined ? null : (parseDuration(l.spec.declaredRtt) ?? null));
}

export function siteTone(s: SiteSummary): 'ok' | 'bad' | 'idle' {
  if (s.nodes.total === 0) return 'idle';
  return s.nodes.ready === s.nodes.total ? 'ok' : 'bad';
}

export function fmtMs(ms: number | null): string {
  if (ms === null) return '–';
  return `${ms < 10 ? ms.toFixed(1) : Math.round(ms).toLocaleString()} ms`;
}

/** A long name cut to fit a box; the full name is in the aria-label and tooltip. */
export function short(name: string, max: number): string {
  return name.length > max ? `${name.slice(0, max - 1)}…` : name;
}
