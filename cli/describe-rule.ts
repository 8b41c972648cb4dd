import type { Rule } from '../core/index.ts';
import { age, formatRows, ruleSum } from './printers.ts';

const ms = (v: number | null): string => (v === null ? '-' : v < 1 ? v.toFixed(3) : v.toFixed(1));

/** `gedge describe rule`: each node's state and counters, the totals, and the last problem each node saw. */
export function describeRule(r: Rule): string {
  const nodes = Object.entries(r.status?.nodes ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (!nodes.length) return 'Nodes: <none yet> (the rule runs on nodes its target takes in; they report every heartbeat)';
  const rows = [['  NODE', 'PHASE', 'IN', 'OUT', 'FILTERED', 'DROPPED', 'LATE', 'SINK ERRORS', 'PENDING', 'GROUPS', 'P50 MS', 'P99 MS', 'REPORTED']];
  for (const [node, s] of nodes) {
    rows.push([`  ${node}`, s.phase, ...[s.in, s.out, s.filtered, s.dropped, s.late, s.sinkErrors, s.pending, s.groups].map(String), ms(s.latencyMs.p50), ms(s.latencyMs.p99), age(s.reportedAt)]);
  }
  if (nodes.length > 1) rows.push(['  (total)', '', ...(['in', 'out', 'filtered', 'dropped', 'late', 'sinkErrors', 'pending'] as const).map((k) => String(ruleSum(r, k))), '', '', '', '']);
  const lines = ['Nodes:', formatRows(rows)];
  for (const [node, s] of nodes) {
    if (s.message) lines.push(`  ${node}: ${s.message}`);
    if (s.lastDropped) lines.push(`  ${node}: last dropped ${age(s.lastDropped.at)} ago on ${s.lastDropped.topic}: ${s.lastDropped.reason}; payload ${JSON.stringify(s.lastDropped.sample)}`);
    if (s.lastSinkError) lines.push(`  ${node}: last ${s.lastSinkError.action} error ${age(s.lastSinkError.at)} ago: ${s.lastSinkError.message}`);
  }
  return lines.join('\n');
}
