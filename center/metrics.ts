import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { processRegistry } from '../core/prometheus.ts';

/**
 * The center's Prometheus metrics (core/prometheus.ts says what every
 * gedge registry holds). `promtool check metrics` passes on it
 * (center/e2e/api.test.ts, agent/e2e/rules.test.ts).
 */
export function createMetrics() {
  const registry = processRegistry();
  let commits = { writes: 0, commits: 0 };
  return {
    registry,
    /** What the store says of its commits, read once per scrape (ops-routes). */
    setCommitStats: (s: { writes: number; commits: number }) => void (commits = s),
    httpRequests: new Counter({ name: 'gedge_http_requests_total', help: 'API requests', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    agentsConnected: new Gauge({ name: 'gedge_agents_connected', help: 'Agents with a live connection', registers: [registry] }),
    agentDisconnects: agentDisconnects(registry),
    syncMessages: new Counter({ name: 'gedge_sync_messages_total', help: 'Sync messages sent to agents', labelNames: ['type'], registers: [registry] }),
    roamPulls: new Counter({ name: 'gedge_roaming_handovers_total', help: "Roaming devices' MQTT sessions asked for through the center, by outcome (moved, none, unavailable)", labelNames: ['outcome'], registers: [registry] }),
    roamForwards: new Counter({ name: 'gedge_roaming_relayed_messages_total', help: 'Messages forwarded to a roaming device\'s session at another broker, by outcome (relayed, dropped)', labelNames: ['outcome'], registers: [registry] }),
    agentRefused: new Counter({ name: 'gedge_agent_refused_total', help: 'Agent reports dropped because the node does not speak for their object', labelNames: ['type'], registers: [registry] }),
    agentBytes: new Counter({ name: 'gedge_agent_bytes_total', help: 'Bytes on agent connections', labelNames: ['direction', 'type'], registers: [registry] }),
    reconciles: new Counter({ name: 'gedge_reconcile_total', help: 'Controller reconciles', labelNames: ['controller', 'result'], registers: [registry] }),
    reconcileSeconds: new Histogram({ name: 'gedge_reconcile_seconds', help: 'Reconcile duration', labelNames: ['controller'], registers: [registry], buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2] }),
    storeRevision: new Gauge({ name: 'gedge_store_revision', help: 'Current store revision', registers: [registry] }),
    storeWrites: totalOf(registry, 'gedge_store_writes_total', 'Writes committed', () => commits.writes),
    storeCommits: totalOf(registry, 'gedge_store_commits_total', 'Store transactions committed; writes / commits is the group-commit factor', () => commits.commits),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Agent connections that ended, by why: silent (nothing came over it for
 * longer than the hub's bound: a link that drops packets), closed (the agent
 * or the network closed it), replaced (the node connected again), protocol,
 * revoked, shutdown, center (another reason of the center's). Every reason
 * shows from the start, at 0.
 */
function agentDisconnects(registry: Registry): Counter<'reason'> {
  const c = new Counter({ name: 'gedge_agent_disconnects_total', help: 'Agent connections that ended, by why: silent (the center heard nothing for longer than its bound), closed (by the agent or the network), replaced, protocol, revoked, shutdown, center', labelNames: ['reason'], registers: [registry] });
  for (const reason of ['silent', 'closed', 'replaced', 'protocol', 'revoked', 'shutdown', 'center']) c.inc({ reason }, 0);
  return c;
}

/** A counter whose total something else keeps (read at each scrape), not incremented here. */
function totalOf(registry: Registry, name: string, help: string, read: () => number): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
