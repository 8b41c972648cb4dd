import type { LinkState } from '../../core/index.ts';

/**
 * Site-to-site round trips, pure (no I/O, time passed in). Samples arrive per
 * direction: prober site -> target site, and whether the target was a peer
 * agent or the center. Each direction keeps an EWMA and a jitter (EWMA of the
 * deviation, as TCP's RTTVAR [RFC 6298 2.3]); a link is the unordered pair
 * of sites and its value the mean of its fresh directions, since the two ways
 * may differ (an asymmetric proxy or route).
 */
export type Via = 'peer' | 'center';

export interface MatrixOptions {
  /** Weight of a new sample (0.3: about the last three periods matter). */
  alpha?: number;
  /** No report for this long: Stale, the last value stands. */
  staleAfterMs: number;
  /** No report for this long: forgotten. */
  expireAfterMs: number;
}

export interface LinkSnapshot {
  sites: [string, string];
  state: LinkState;
  /** null when Down, or when nothing but failures was ever reported. */
  rttMs: number | null;
  jitterMs: number;
  samples: number;
  directions: number;
  /** The latest report (ms epoch) among the directions that gave the value. */
  measuredAt: number;
}

interface Direction {
  from: string;
  to: string;
  via: Via;
  ewma: number | null;
  jitter: number;
  samples: number;
  lastReportAt: number;
  /** The latest report was a failure (every probe of its period failed). */
  down: boolean;
}

export class LatencyMatrix {
  private readonly dirs = new Map<string, Direction>();
  private readonly alpha: number;

  constructor(private readonly opts: MatrixOptions) {
    this.alpha = opts.alpha ?? 0.3;
  }

  /** One report: a round trip in ms, or null when every probe of the period failed. Intra-site pairs are ignored. */
  record(fromSite: string, toSite: string, rttMs: number | null, atMs: number, via: Via = 'peer'): void {
    if (fromSite === toSite) return;
    const key = `${fromSite}\n${toSite}\n${via}`;
    let d = this.dirs.get(key);
    if (!d) this.dirs.set(key, (d = { from: fromSite, to: toSite, via, ewma: null, jitter: 0, samples: 0, lastReportAt: atMs, down: false }));
    d.lastReportAt = Math.max(d.lastReportAt, atMs);
    d.down = rttMs === null;
    if (rttMs === null) return;
    if (d.ewma === null) d.ewma = rttMs;
    else {
      // Deviation against the old average first, then move the average (RFC 6298 order).
      d.jitter += this.alpha * (Math.abs(rttMs - d.ewma) - d.jitter);
      d.ewma += this.alpha * (rttMs - d.ewma);
    }
    d.samples++;
  }

  /** Every link, one per unordered site pair; directions silent past expireAfterMs are dropped for good. */
  snapshot(nowMs: number): LinkSnapshot[] {
    const pairs = new Map<string, Direction[]>();
    for (const [key, d] of this.dirs) {
      if (nowMs - d.lastReportAt >= this.opts.expireAfterMs) {
        this.dirs.delete(key);
        continue;
      }
      const [a, b] = d.from < d.to ? [d.from, d.to] : [d.to, d.from];
      const k = `${a}\n${b}`;
      pairs.set(k, [...(pairs.get(k) ?? []), d]);
    }
    return [...pairs.values()].map((dirs) => this.link(dirs, nowMs));
  }

  get size(): number {
    return this.dirs.size;
  }

  private link(dirs: Direction[], nowMs: number): LinkSnapshot {
    const first = dirs[0]!;
    const sites: [string, string] = first.from < first.to ? [first.from, first.to] : [first.to, first.from];
    const fresh = dirs.filter((d) => nowMs - d.lastReportAt < this.opts.staleAfterMs);
    const up = fresh.filter((d) => !d.down && d.ewma !== null);
    // Agent-to-agent probes measure the path between the two sites; a round trip
    // to the center stands in for its site only when no peer was measured.
    if (up.length) return summary(sites, 'Up', preferPeers(up));
    const down = fresh.filter((d) => d.down);
    if (down.length) return { ...summary(sites, 'Down', down), rttMs: null, jitterMs: 0 };
    const known = dirs.filter((d) => d.ewma !== null);
    return summary(sites, 'Stale', known.length ? preferPeers(known) : dirs);
  }
}

function preferPeers(dirs: Direction[]): Direction[] {
  const peers = dirs.filter((d) => d.via === 'peer');
  return peers.length ? peers : dirs;
}

function summary(sites: [string, string], state: LinkState, dirs: Direction[]): LinkSnapshot {
  const valued = dirs.filter((d) => d.ewma !== null);
  const mean = (f: (d: Direction) => number) => valued.reduce((s, d) => s + f(d), 0) / valued.length;
  return {
    sites,
    state,
    rttMs: valued.length ? mean((d) => d.ewma!) : null,
    jitterMs: valued.length ? mean((d) => d.jitter) : 0,
    samples: dirs.reduce((s, d) => s + d.samples, 0),
    directions: dirs.length,
    measuredAt: Math.max(...dirs.map((d) => d.lastReportAt)),
  };
}
