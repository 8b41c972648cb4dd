import type { Obj } from '../api.ts';
import type { EvaluationStatus } from '../../../core/model-schema.ts';
import type { SERVICE_LABEL as CORE_SERVICE_LABEL } from '../../../core/resources.ts';
import type { InferenceStatus, RolloutStatus, WorkloadTemplate } from '../../../core/workload-schema.ts';
import { payloadOf, WINDOW_MS, type SinkRow } from './scenario-model.ts';

/**
 * The airport CCTV scenario as the Airport page reads it: the per-window rows
 * of the table-sink route `airport-stats`, and the `cctv` Service and its
 * Instances (split inference at the edge, gated model rollouts). Pure: no
 * fetching, no rendering.
 */

export const AIRPORT_PROJECT = 'airport';
export const STATS_ROUTE = 'airport-stats';
export const CCTV_SERVICE = 'cctv';
/** A raw camera frame: 28x28 grayscale, one byte a pixel. What sending every frame up would cost. */
export const RAW_FRAME_BYTES = 784;
/** The newest windows of each site summarized: 6 windows of 5 s, the last 30 s. */
export const RECENT_WINDOWS = 6;
export { WINDOW_MS };

export interface CctvRow {
  site: string;
  /** ms since the epoch. */
  windowEnd: number;
  frames: number;
  correct: number;
  local: number;
  cloud: number;
  fallback: number;
  /** Inference latency (ms) of the window; null when the row has none (no frames). */
  p50: number | null;
  p99: number | null;
}

type Json = Record<string, unknown>;
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Rows of topic `stats/<site>/cctv`, one per site and window (a window written twice counts once, the later row). */
export function cctvRows(rows: SinkRow[]): CctvRow[] {
  const byKey = new Map<string, CctvRow>();
  for (const r of rows) {
    const parts = r.topic.split('/');
    if (parts.length !== 3 || parts[0] !== 'stats' || parts[2] !== 'cctv' || !parts[1]) continue;
    const p: Json | null = payloadOf(r);
    if (!p) continue;
    const end = num(p.windowEnd);
    const windowEnd = end === null ? Date.parse(r.at) : end < 1e11 ? end * 1000 : end;
    if (!Number.isFinite(windowEnd)) continue;
    const row: CctvRow = {
      site: str(p.site) ?? parts[1],
      windowEnd,
      frames: num(p.frames) ?? 0,
      correct: num(p.correct) ?? 0,
      local: num(p.local) ?? 0,
      cloud: num(p.cloud) ?? 0,
      fallback: num(p.fallback) ?? 0,
      p50: num(p.p50),
      p99: num(p.p99),
    };
    byKey.set(`${row.site}\n${windowEnd}`, row);
  }
  return [...byKey.values()];
}

export interface TerminalSummary {
  site: string;
  /** Windows summed (at most RECENT_WINDOWS) and the span they cover. */
  windows: number;
  from: number;
  to: number;
  frames: number;
  correct: number;
  local: number;
  cloud: number;
  fallback: number;
  /** Frames a second over the windows summed (each is WINDOW_MS long). */
  fps: number;
  /** Shares of the frames, 0 to 1; null without frames. */
  localShare: number | null;
  accuracy: number | null;
  /** The median of the windows' p50, the largest of their p99 (ms); null when no window has one. */
  p50: number | null;
  p99: number | null;
}

export const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const natural = new Intl.Collator('en', { numeric: true }).compare;

/** Per site (terminal-1 before terminal-2 before terminal-10): the sums and shares of its newest `windows` windows. */
export function summarizeTerminals(rows: CctvRow[], windows = RECENT_WINDOWS): TerminalSummary[] {
  const bySite = new Map<string, CctvRow[]>();
  for (const r of rows) bySite.set(r.site, [...(bySite.get(r.site) ?? []), r]);
  return [...bySite.entries()]
    .sort(([a], [b]) => natural(a, b))
    .map(([site, all]) => {
      const recent = [...all].sort((a, b) => b.windowEnd - a.windowEnd).slice(0, windows);
      const total = (k: 'frames' | 'correct' | 'local' | 'cloud' | 'fallback') => recent.reduce((a, r) => a + r[k], 0);
      const frames = total('frames');
      const p50s = recent.flatMap((r) => (r.p50 === null ? [] : [r.p50]));
      const p99s = recent.flatMap((r) => (r.p99 === null ? [] : [r.p99]));
      return {
        site,
        windows: recent.length,
        from: recent[recent.length - 1]!.windowEnd - WINDOW_MS,
        to: recent[0]!.windowEnd,
        frames,
        correct: total('correct'),
        local: total('local'),
        cloud: total('cloud'),
        fallback: total('fallback'),
        fps: frames / ((recent.length * WINDOW_MS) / 1000),
        localShare: frames > 0 ? total('local') / frames : null,
        accuracy: frames > 0 ? total('correct') / frames : null,
        p50: median(p50s),
        p99: p99s.length ? Math.max(...p99s) : null,
      };
    });
}

// ---- the cctv Service and its Instances ----

/** core's SERVICE_LABEL, held to its value by the type (a run-time import of core/resources.ts would bundle zod). */
export const SERVICE_LABEL: typeof CORE_SERVICE_LABEL = 'gedge.io/service';

export type CctvService = Obj<{ template: WorkloadTemplate }, { revision?: number; rollout?: RolloutStatus }>;
export type CctvInstance = Obj<{ node?: string; revision?: number; template: WorkloadTemplate }, { phase?: string; ready?: boolean; inference?: InferenceStatus; evaluation?: EvaluationStatus }>;

export const isCctv = (o: Obj): boolean => o.metadata.project === AIRPORT_PROJECT && (o.metadata.labels?.[SERVICE_LABEL] === CCTV_SERVICE || (o.spec as { service?: string }).service === CCTV_SERVICE);

/** The cctv instances, by site, node and name. */
export function cctvInstances(instances: Obj[], siteOf: Map<string, string>): CctvInstance[] {
  const site = (o: CctvInstance) => siteOf.get(o.spec.node ?? '') ?? '';
  return (instances.filter(isCctv) as CctvInstance[]).sort((a, b) => natural(site(a), site(b)) || natural(a.spec.node ?? '', b.spec.node ?? '') || natural(a.metadata.name, b.metadata.name));
}

export interface Uplink {
  rows: number;
  local: number;
  offloaded: number;
  fallbacks: number;
  bytesUp: number;
  /** bytesUp / rows: what a classified frame cost on the uplink on average; null without rows. */
  bytesPerFrame: number | null;
  /** bytesUp / offloaded: the size of a cut sent up; null when nothing was offloaded. */
  bytesPerOffload: number | null;
  /** What sending every frame raw would have cost (rows × 784) against bytesUp: Infinity when frames were classified and nothing sent, null without rows. */
  saving: number | null;
}

export function uplinkOf(s: { rows: number; local: number; offloaded: number; fallbacks: number; bytesUp: number }): Uplink {
  const { rows, local, offloaded, fallbacks, bytesUp } = s;
  return {
    rows,
    local,
    offloaded,
    fallbacks,
    bytesUp,
    bytesPerFrame: rows > 0 ? bytesUp / rows : null,
    bytesPerOffload: offloaded > 0 ? bytesUp / offloaded : null,
    saving: rows === 0 ? null : bytesUp === 0 ? Infinity : (rows * RAW_FRAME_BYTES) / bytesUp,
  };
}

/** The split figures of every instance that reports them, summed. */
export function totalUplink(instances: CctvInstance[]): Uplink | null {
  const splits = instances.flatMap((i) => (i.status?.inference?.split ? [i.status.inference.split] : []));
  if (splits.length === 0) return null;
  const sum = (k: 'rows' | 'local' | 'offloaded' | 'fallbacks' | 'bytesUp') => splits.reduce((a, s) => a + s[k], 0);
  return uplinkOf({ rows: sum('rows'), local: sum('local'), offloaded: sum('offloaded'), fallbacks: sum('fallbacks'), bytesUp: sum('bytesUp') });
}

/** A share (0 to 1) as a percent with two decimals: 0.9712 → "97.12%"; "–" for null. */
export function percent2(share: number | null | undefined): string {
  return share === null || share === undefined || !Number.isFinite(share) ? '–' : `${(share * 100).toFixed(2)}%`;
}

export interface EvaluationView {
  phase: EvaluationStatus['phase'];
  baseline: string;
  /** Percentage points the candidate is above (+) or below (−) its baseline; null unless both were measured. */
  accuracyDelta: number | null;
  /** Median / baseline median, what the gate judges (maxSlowdown); null unless both were measured and the baseline's is above 0. */
  slowdown: number | null;
  /** Mirrored requests so far against those wanted (0 to 1), and the share agreed; null without shadowing. */
  shadowProgress: number | null;
  agreement: number | null;
}

export function evaluationView(e: EvaluationStatus): EvaluationView {
  const { accuracy, baselineAccuracy, p50Ms, baselineP50Ms, shadow } = e;
  return {
    phase: e.phase,
    baseline: `${e.baseline.model} v${e.baseline.version}`,
    accuracyDelta: accuracy !== null && baselineAccuracy !== null ? (accuracy - baselineAccuracy) * 100 : null,
    slowdown: p50Ms !== null && baselineP50Ms !== null && baselineP50Ms > 0 ? p50Ms / baselineP50Ms : null,
    shadowProgress: shadow && shadow.wanted > 0 ? Math.min(1, shadow.requests / shadow.wanted) : null,
    agreement: shadow && shadow.requests > 0 ? shadow.agreed / shadow.requests : null,
  };
}

/** A model run's latency: sub-millisecond runs to the microsecond (0.029 ms), longer ones as the rest of the page. */
export function fmtRunMs(ms: number | null): string {
  if (ms === null) return '–';
  return ms < 1 ? `${ms.toFixed(3)} ms` : ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms).toLocaleString()} ms`;
}
