import type { Registry } from 'prom-client';
import { projectOf } from '../core/index.ts';
import type { Rule } from '../core/index.ts';
import { registerRuleMetrics as register, type RuleSample } from '../engine/prometheus.ts';
import type { Store } from './store/store.ts';

/** Every node's rule metrics on the center's /metrics, from the Rules' status (what the agents last reported), labelled by node. */
export function registerRuleMetrics(registry: Registry, store: Store): void {
  // One store read per scrape, shared by the metrics.
  let cached: { at: number; rules: Promise<Rule[]> } | undefined;
  const load = (): Promise<Rule[]> => {
    if (!cached || Date.now() - cached.at > 1000) cached = { at: Date.now(), rules: store.list('Rule').then((p) => p.items) };
    return cached.rules;
  };
  register(registry, ['project', 'rule', 'node'], async () => samples(await load()));
}

function* samples(rules: Rule[]): Generator<RuleSample> {
  for (const r of rules) {
    for (const [node, s] of Object.entries(r.status?.nodes ?? {})) yield { labels: { project: projectOf(r), rule: r.metadata.name, node }, s };
  }
}
