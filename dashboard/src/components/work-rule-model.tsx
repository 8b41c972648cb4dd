import type { Obj } from '../api.ts';
import type { Translate } from '../i18n/index.ts';

import type { RuleAction, RuleNodeStatus, RuleSpec, RuleStatus, RuleTarget } from '../../../core/rule-schema.ts';

/** Rules as core/rule-schema.ts has them (types only: nothing of core is bundled). */
export type { RuleAction, RuleNodeStatus, RuleTarget };
export type Rule = Obj<RuleSpec, RuleStatus>;

export interface RuleTotals {
  in: number;
  out: number;
  dropped: number;
  late: number;
  sinkErrors: number;
  pending: number;
  /** The worst node's p99 latency, ms; null when no node measured one. */
  p99: number | null;
  nodes: number;
  failed: number;
}

/** The counters of every node that runs the rule, summed. */
export function ruleTotals(r: Rule): RuleTotals {
  const sum: RuleTotals = { in: 0, out: 0, dropped: 0, late: 0, sinkErrors: 0, pending: 0, p99: null, nodes: 0, failed: 0 };
  for (const n of Object.values(r.status?.nodes ?? {})) {
    sum.in += n.in;
    sum.out += n.out;
    sum.dropped += n.dropped;
    sum.late += n.late;
    sum.sinkErrors += n.sinkErrors;
    sum.pending += n.pending;
    if (n.latencyMs.p99 !== null && (sum.p99 === null || n.latencyMs.p99 > sum.p99)) sum.p99 = n.latencyMs.p99;
    sum.nodes++;
    if (n.phase === 'Failed') sum.failed++;
  }
  return sum;
}

const labels = (l: Record<string, string>) =>
  Object.entries(l)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

/** Where a rule runs, in one line ("sites edge-a, edge-b"); the default is every edge-tier node. */
export function targetSummary(tr: Translate, target: RuleTarget): string {
  const parts = [
    target.sites && tr('edge.target.sites', { v: target.sites.join(', ') }),
    target.nodes && tr('edge.target.nodes', { v: target.nodes.join(', ') }),
    target.tiers && tr('edge.target.tiers', { v: target.tiers.join(', ') }),
    target.nodeSelector && tr('edge.target.nodeSelector', { v: labels(target.nodeSelector) }),
    target.siteSelector && tr('edge.target.siteSelector', { v: labels(target.siteSelector) }),
  ].filter(Boolean);
  return parts.length ? parts.join(' · ') : tr('edge.target.default');
}

/** One action as a line: what it does and where to. */
export function actionSummary(a: RuleAction): { kind: string; detail: string } {
  if ('mqtt' in a) return { kind: 'mqtt', detail: `${a.mqtt.topic} (QoS ${a.mqtt.qos}${a.mqtt.retain ? ', retain' : ''})${a.mqtt.payload ? ` ← ${a.mqtt.payload}` : ''}` };
  if ('uplink' in a) return { kind: 'uplink', detail: `${a.uplink.route}${a.uplink.topic ? ` → ${a.uplink.topic}` : ''}` };
  if ('webhook' in a) return { kind: 'webhook', detail: `${a.webhook.method} ${a.webhook.url}` };
  if ('infer' in a) return { kind: 'infer', detail: `${a.infer.from} → ${a.infer.service} → ${a.infer.topic}` };
  return { kind: 'log', detail: a.log.level };
}
