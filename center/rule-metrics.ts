import { Counter, Gauge, type Registry } from 'prom-client';
import { projectOf } from '../core/index.ts';
import type { Rule } from '../core/index.ts';
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
    if (!cached || Date.now() - cached.at > 1000) cached = { at: Date.now(), rules: store.list('Rule').then((p) => p.items as Rule[]) };
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
  new Gauge({
    name: 'gedge_rule_latency_ms',
    help: 'Processing time of a message by a rule, ms (quantiles from the agent histogram)',
    labelNames: [...labelNames, 'quantile'],
    registers: [registry],
    async collect() {
      const rules = await load();
      this.reset();
      for (const { project, rule, node, s } of reports(rules)) {
        if (s.latencyMs.p50 !== null) this.set({ project, rule, node, quantile: '0.5' }, s.latencyMs.p50);
        if (s.latencyMs.p99 !== null) this.set({ project, rule, node, quantile: '0.99' }, s.latencyMs.p99);
      }
    },
  });
}

function* reports(rules: Rule[]) {
  for (const r of rules) {
    for (const [node, s] of Object.entries(r.status?.nodes ?? {})) yield { project: projectOf(r), rule: r.metadata.name, node, s };
  }
}
