import { Counter, Gauge, type Metric, type Registry } from 'prom-client';
import { projectOf } from '../core/index.ts';
import type { Rule } from '../core/index.ts';
import { LATENCY_BUCKETS_MS } from '../engine/index.ts';
import type { Store } from './store/store.ts';

const OUTCOMES = ['in', 'out', 'filtered', 'dropped', 'late'] as const;

/**
 * Per-rule, per-node metrics on /metrics, read from the Rules' status (what
 * the agents last reported) at scrape time. The counters count since each
 * agent started, so they reset when it restarts, as Prometheus counters may.
 */
export function registerRuleMetrics(registry: Registry, store: Store): void {
  const labelNames = ['project', 'rule', 'node'] as const;
  // One store read per scrape, shared by the metrics below.
  let cached: { at: number; rules: Promise<Rule[]> } | undefined;
  const load = (): Promise<Rule[]> => {
    if (!cached || Date.now() - cached.at > 1000) cached = { at: Date.now(), rules: store.list('Rule').then((p) => p.items) };
    return cached.rules;
  };
  new Counter({
    name: 'gedge_rule_messages_total',
    help: 'Rule messages by outcome: in (matched the FROM topic), out (result rows), filtered (WHERE, HAVING, inner JOIN), dropped (could not be processed), late (behind the watermark)',
    labelNames: [...labelNames, 'outcome'],
    registers: [registry],
    async collect() {
      const rules = await load();
      this.reset();
      for (const { project, rule, node, s } of reports(rules)) for (const o of OUTCOMES) this.inc({ project, rule, node, outcome: o }, s[o]);
    },
  });
  new Counter({
    name: 'gedge_rule_sink_errors_total',
    help: 'Failed rule action attempts (each retry counts)',
    labelNames,
    registers: [registry],
    async collect() {
      const rules = await load();
      this.reset();
      for (const { project, rule, node, s } of reports(rules)) this.inc({ project, rule, node }, s.sinkErrors);
    },
  });
  new Gauge({
    name: 'gedge_rule_pending_rows',
    help: 'Result rows waiting for a failing rule action',
    labelNames,
    registers: [registry],
    async collect() {
      const rules = await load();
      this.reset();
      for (const { project, rule, node, s } of reports(rules)) this.set({ project, rule, node }, s.pending);
    },
  });
  // The agents' latency histograms as they report them (bucket counts, sum, count), as a Prometheus histogram in seconds.
  const latency = 'gedge_rule_latency_seconds';
  const help = 'Processing time of a message by a rule, seconds (the agent\'s histogram)';
  registry.registerMetric({
    name: latency,
    help,
    type: 'histogram',
    aggregator: 'sum',
    reset: () => undefined,
    async get() {
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const { project, rule, node, s } of reports(await load())) {
        const labels = { project, rule, node };
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

function* reports(rules: Rule[]) {
  for (const r of rules) {
    for (const [node, s] of Object.entries(r.status?.nodes ?? {})) yield { project: projectOf(r), rule: r.metadata.name, node, s };
  }
}
