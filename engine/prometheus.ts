import { Counter, Gauge, type Metric, type Registry } from 'prom-client';
import { LATENCY_BUCKETS_MS, type RuleMetricsSnapshot } from './metrics.ts';

/** One rule's counters as a node reports them, with the labels that say whose they are. */
export interface RuleSample {
  labels: Record<string, string>;
  s: Pick<RuleMetricsSnapshot, 'in' | 'out' | 'filtered' | 'dropped' | 'late' | 'sinkErrors' | 'latencyMs'> & { pending: number };
}

const OUTCOMES = ['in', 'out', 'filtered', 'dropped', 'late'] as const;

/**
 * The rule engine's metrics in Prometheus' terms, read from `samples` at
 * scrape time: the center's /metrics (every node's, from the Rules'
 * status) and each agent's (its own). Counters count since the agent
 * started, so they reset when it restarts, as Prometheus counters may; the
 * latency histogram is in seconds.
 */
export function registerRuleMetrics(registry: Registry, labelNames: readonly string[], samples: () => Promise<Iterable<RuleSample>>): void {
  new Counter({
    name: 'gedge_rule_messages_total',
    help: 'Rule messages by outcome: in (matched the FROM topic), out (result rows), filtered (WHERE, HAVING, inner JOIN), dropped (could not be processed), late (behind the watermark)',
    labelNames: [...labelNames, 'outcome'],
    registers: [registry],
    async collect() {
      const all = await samples();
      this.reset();
      for (const { labels, s } of all) for (const o of OUTCOMES) this.inc({ ...labels, outcome: o }, s[o]);
    },
  });
  new Counter({
    name: 'gedge_rule_sink_errors_total',
    help: 'Failed rule action attempts (each retry counts)',
    labelNames,
    registers: [registry],
    async collect() {
      const all = await samples();
      this.reset();
      for (const { labels, s } of all) this.inc(labels, s.sinkErrors);
    },
  });
  new Gauge({
    name: 'gedge_rule_pending_rows',
    help: 'Result rows waiting for a failing rule action',
    labelNames,
    registers: [registry],
    async collect() {
      const all = await samples();
      this.reset();
      for (const { labels, s } of all) this.set(labels, s.pending);
    },
  });
  // The engine's own histogram (bucket counts, sum, count) as a Prometheus histogram: prom-client's would re-bucket every observation.
  const latency = 'gedge_rule_latency_seconds';
  const help = "Processing time of a message by a rule, seconds (the engine's histogram)";
  registry.registerMetric({
    name: latency,
    help,
    type: 'histogram',
    aggregator: 'sum',
    reset: () => undefined,
    async get() {
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const { labels, s } of await samples()) {
        let below = 0;
        LATENCY_BUCKETS_MS.forEach((ms, i) => {
          below += s.latencyMs.buckets[i] ?? 0;
          values.push({ metricName: `${latency}_bucket`, labels: { ...labels, le: ms / 1000 }, value: below });
        });
        values.push({ metricName: `${latency}_bucket`, labels: { ...labels, le: '+Inf' }, value: s.latencyMs.count });
        values.push({ metricName: `${latency}_sum`, labels, value: s.latencyMs.sum / 1000 });
        values.push({ metricName: `${latency}_count`, labels, value: s.latencyMs.count });
      }
      return { name: latency, help, type: 'histogram', aggregator: 'sum', values };
    },
  } as unknown as Metric);
}
