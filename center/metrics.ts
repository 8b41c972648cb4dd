import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The center's Prometheus metrics, on its own registry (several centers may share a process in tests). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gedge_center_' });
  return {
    registry,
    httpRequests: new Counter({ name: 'gedge_http_requests_total', help: 'API requests', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    agentsConnected: new Gauge({ name: 'gedge_agents_connected', help: 'Agents with a live connection', registers: [registry] }),
    syncMessages: new Counter({ name: 'gedge_sync_messages_total', help: 'Sync messages sent to agents', labelNames: ['type'], registers: [registry] }),
    agentRefused: new Counter({ name: 'gedge_agent_refused_total', help: 'Agent reports dropped because the node does not speak for their object', labelNames: ['type'], registers: [registry] }),
    agentBytes: new Counter({ name: 'gedge_agent_bytes_total', help: 'Bytes on agent connections', labelNames: ['direction', 'type'], registers: [registry] }),
    reconciles: new Counter({ name: 'gedge_reconcile_total', help: 'Controller reconciles', labelNames: ['controller', 'result'], registers: [registry] }),
    reconcileSeconds: new Histogram({ name: 'gedge_reconcile_seconds', help: 'Reconcile duration', labelNames: ['controller'], registers: [registry], buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2] }),
    storeRevision: new Gauge({ name: 'gedge_store_revision', help: 'Current store revision', registers: [registry] }),
    storeWrites: new Gauge({ name: 'gedge_store_writes', help: 'Writes committed since the center started', registers: [registry] }),
    storeCommits: new Gauge({ name: 'gedge_store_commits', help: 'Store transactions committed since start; writes / commits is the group-commit factor', registers: [registry] }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
