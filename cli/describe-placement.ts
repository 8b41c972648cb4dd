import type { Instance, SchedulingExplanation } from '../core/index.ts';
import { age, formatRows } from './printers.ts';

const SCORE_ORDER = ['latency', 'tier', 'spread', 'leastAllocated', 'mostAllocated', 'cost'];

/**
 * The scheduler's last decision for each instance: the candidate nodes with
 * their filter verdict, client latency and per-plugin scores.
 */
export function describePlacement(instances: Instance[]): string {
  const withExplanation = instances.filter((i) => i.status?.scheduling).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  if (!withExplanation.length) return 'Placement:\n  <no decisions yet>';
  const out = ['Placement:'];
  for (const i of withExplanation) {
    const e = i.status!.scheduling!;
    const where = e.node ? `-> ${e.node}` : e.nominatedNode ? `(preempting on ${e.nominatedNode})` : '(pending)';
    out.push(`  ${i.metadata.name} ${where}   policy ${e.policy}   ${e.summary}   ${age(e.at)} ago`);
    out.push(candidateTable(e));
  }
  return out.join('\n');
}

function candidateTable(e: SchedulingExplanation): string {
  const used = SCORE_ORDER.filter((s) => e.candidates.some((c) => c.scores?.[s] !== undefined));
  const rows = e.candidates.map((c) => [
    `    ${c.node}`,
    c.site,
    c.verdict,
    c.latencyMs === null || c.latencyMs === undefined ? '-' : `${c.latencyMs}ms`,
    ...used.map((s) => (c.scores?.[s] === undefined ? '-' : String(c.scores[s]))),
    c.total === undefined ? '-' : String(c.total),
  ]);
  const header = ['    NODE', 'SITE', 'VERDICT', 'LATENCY', ...used.map((s) => s.toUpperCase()), 'TOTAL'];
  const more = e.omitted ? `\n    ... and ${e.omitted} more node(s) not listed` : '';
  return formatRows([header, ...rows]) + more;
}
