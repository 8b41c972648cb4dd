import type { Logger } from 'pino';
import { AlreadyExistsError, API_VERSION, siteLinkName, type AgentMessage, type SiteLink, type SiteLinkStatus } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import { LatencyMatrix, type LinkSnapshot } from './latency-matrix.ts';

/** Links the center created from measurements (and may delete when they expire). */
export const MEASURED_LABEL = 'gedge.io/measured';

export type RttReport = Extract<AgentMessage, { t: 'rtt' }>;
type Reader = Pick<Store, 'get' | 'list'>;

export interface RecorderOptions {
  /** The center's own site: an agent's round trip to the center then counts for (agent site, this site). */
  centerSite?: string;
  staleAfterMs: number;
  expireAfterMs: number;
  /** How often the matrix is written to the store. */
  flushMs?: number;
  /** An unchanged link is rewritten this often anyway, so its measuredAt says it is still being measured. */
  refreshMs?: number;
  now?: () => number;
}

/**
 * Feeds agents' round-trip reports into the latency matrix and keeps the
 * store's SiteLink objects in line with it, writing only what matters (a state
 * change, a move of at least max(0.2 ms, 10 %), or a periodic refresh), so
 * that a steady network costs no store revisions to speak of.
 */
export class LinkRecorder {
  readonly matrix: LatencyMatrix;
  private timer: NodeJS.Timeout | null = null;
  private flushing = false;
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    /** Node and SiteLink objects, read from memory. */
    private readonly cache: Reader,
    private readonly log: Logger,
    private readonly opts: RecorderOptions,
  ) {
    this.matrix = new LatencyMatrix({ staleAfterMs: opts.staleAfterMs, expireAfterMs: opts.expireAfterMs });
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.opts.flushMs ?? 1000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One agent's report: its node's site is the prober's, each peer's node gives the target site. */
  async recordFromNode(node: string, report: RttReport): Promise<void> {
    const site = await this.siteOf(node);
    if (!site) return;
    const at = this.now();
    if (typeof report.centerMs === 'number' && this.opts.centerSite) this.matrix.record(site, this.opts.centerSite, report.centerMs, at, 'center');
    for (const p of report.peers) {
      const target = await this.siteOf(p.node);
      if (target) this.matrix.record(site, target, p.rttMs, at);
    }
  }

  /** Writes significant changes, ages links the matrix no longer knows (e.g. from before a restart). */
  async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      const now = this.now();
      const current = new Set<string>();
      for (const l of this.matrix.snapshot(now)) {
        const name = siteLinkName(...l.sites);
        current.add(name);
        await this.write(name, l, now);
      }
      for (const link of (await this.cache.list('SiteLink')).items) {
        if (!current.has(link.metadata.name)) await this.age(link, now);
      }
    } catch (err) {
      this.log.error({ err }, 'writing links failed');
    } finally {
      this.flushing = false;
    }
  }

  private async write(name: string, l: LinkSnapshot, now: number): Promise<void> {
    const status = toStatus(l);
    const existing = await this.cache.get('SiteLink', undefined, name);
    if (!existing) {
      const link: SiteLink = { apiVersion: API_VERSION, kind: 'SiteLink', metadata: { name, labels: { [MEASURED_LABEL]: 'true' } }, spec: { sites: l.sites }, status };
      // The cache may lag a link just declared by a user: then it exists, and only its status is ours.
      const created = await this.store.create(link).catch((e: unknown) => (e instanceof AlreadyExistsError ? undefined : Promise.reject(e)));
      if (created) this.log.info({ link: name, rttMs: status.rttMs, state: status.state }, 'link measured');
      else await this.store.updateStatus('SiteLink', undefined, name, status);
      return;
    }
    if (!significant(existing.status, status, now, this.opts.refreshMs ?? 30_000)) return;
    if (existing.status?.state !== status.state) this.log.info({ link: name, from: existing.status?.state, to: status.state, rttMs: status.rttMs }, 'link state changed');
    await this.store.updateStatus('SiteLink', undefined, name, status);
  }

  /** Links measured before this center started are aged by their measuredAt. A declared link is never deleted. */
  private async age(link: SiteLink, now: number): Promise<void> {
    const s = link.status;
    if (!s) return;
    const age = now - Date.parse(s.measuredAt);
    if (age >= this.opts.expireAfterMs) {
      const ours = link.metadata.labels[MEASURED_LABEL] === 'true' && link.spec.declaredRtt === undefined;
      // Clearing the status lets a declared figure apply again.
      if (ours) await this.store.delete('SiteLink', undefined, link.metadata.name);
      else await this.store.updateStatus('SiteLink', undefined, link.metadata.name, undefined);
      this.log.info({ link: link.metadata.name, deleted: ours }, 'link measurement expired');
    } else if (age >= this.opts.staleAfterMs && s.state !== 'Stale') {
      await this.store.updateStatus('SiteLink', undefined, link.metadata.name, { ...s, state: 'Stale' });
    }
  }

  private async siteOf(node: string): Promise<string | undefined> {
    return (await this.cache.get('Node', undefined, node))?.spec.site;
  }
}

const round = (v: number): number => Math.round(v * 1000) / 1000;

function toStatus(l: LinkSnapshot): SiteLinkStatus {
  return {
    state: l.state,
    rttMs: l.rttMs === null ? null : round(l.rttMs),
    jitterMs: round(l.jitterMs),
    samples: l.samples,
    directions: l.directions,
    measuredAt: new Date(l.measuredAt).toISOString(),
  };
}

export function significant(prev: SiteLinkStatus | undefined, next: SiteLinkStatus, now: number, refreshMs: number): boolean {
  if (!prev) return true;
  if (prev.state !== next.state || (prev.rttMs === null) !== (next.rttMs === null)) return true;
  // The epsilon keeps 1.2 - 1.0 (0.19999...) from falling short of 0.2.
  if (prev.rttMs !== null && next.rttMs !== null && Math.abs(next.rttMs - prev.rttMs) + 1e-9 >= Math.max(0.2, 0.1 * prev.rttMs)) return true;
  return next.measuredAt !== prev.measuredAt && now - Date.parse(prev.measuredAt) >= refreshMs;
}
