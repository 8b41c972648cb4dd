import type { InferenceStatus } from '../../core/index.ts';

/** What one scrape of a model server's /metrics says (cumulative since it started). */
interface Scrape {
  at: number;
  ok: number;
  errors: number;
  rows: number;
  /** Cumulative counts by upper bound (seconds), +Inf last. */
  buckets: [le: number, count: number][];
}

/**
 * A model instance's serving figures, from its model server's Prometheus
 * text (inference/server.ts): rates and latency quantiles over the window
 * since the previous sample of the same instance. A server that restarted
 * (its counters went back) starts a new window.
 */
export class InferenceSampler {
  private readonly prev = new Map<string, Scrape>();

  constructor(private readonly get: (port: number) => Promise<string> = scrape) {}

  async sample(key: string, port: number): Promise<InferenceStatus | undefined> {
    let now: Scrape;
    try {
      now = parse(await this.get(port));
    } catch {
      return undefined; // not serving yet, or gone: nothing to say
    }
    const before = this.prev.get(key);
    this.prev.set(key, now);
    if (!before || now.ok < before.ok || now.errors < before.errors) return undefined;
    const seconds = Math.max(0.001, (now.at - before.at) / 1000);
    const window = now.buckets.map(([le, c], i) => [le, c - (before.buckets[i]?.[1] ?? 0)] as [number, number]);
    return {
      at: new Date(now.at).toISOString(),
      requests: now.ok,
      errors: now.errors,
      requestsPerSecond: round((now.ok - before.ok) / seconds),
      rowsPerSecond: round((now.rows - before.rows) / seconds),
      p50Ms: quantileMs(window, 0.5),
      p99Ms: quantileMs(window, 0.99),
    };
  }

  /** Forgets instances no longer running. */
  keep(keys: ReadonlySet<string>): void {
    for (const k of this.prev.keys()) if (!keys.has(k)) this.prev.delete(k);
  }
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.text();
}

function parse(text: string): Scrape {
  let ok = 0;
  let errors = 0;
  let rows = 0;
  const buckets: [number, number][] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('gedge_inference_requests_total{')) {
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (line.includes('outcome="ok"')) ok += v;
      else errors += v;
    } else if (line.startsWith('gedge_inference_inferences_total{')) {
      rows += Number(line.slice(line.lastIndexOf(' ') + 1));
    } else if (line.startsWith('gedge_inference_request_duration_seconds_bucket{')) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      if (le !== undefined) buckets.push([le === '+Inf' ? Infinity : Number(le), Number(line.slice(line.lastIndexOf(' ') + 1))]);
    }
  }
  if (!buckets.length) throw new Error('not a gedge model server');
  buckets.sort((a, b) => a[0] - b[0]);
  return { at: Date.now(), ok, errors, rows, buckets };
}

/** Prometheus' histogram_quantile over cumulative bucket counts: linear within the bucket the rank falls in. */
export function quantileMs(buckets: [le: number, count: number][], q: number): number | null {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return round(lower * 1000);
      const inBucket = count - below;
      return round((lower + (le - lower) * (inBucket > 0 ? (rank - below) / inBucket : 1)) * 1000);
    }
    lower = le;
    below = count;
  }
  return round(lower * 1000);
}

const round = (v: number) => Math.round(v * 1000) / 1000;
