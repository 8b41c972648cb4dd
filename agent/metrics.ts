import { Counter, Gauge } from 'prom-client';
import type { EdgeUplinkStatus, InferenceStatus, InstancePhase, ModuleHealth } from '../core/index.ts';
import { processRegistry, registerModuleMetrics } from '../core/prometheus.ts';
import { registerRuleMetrics } from '../engine/prometheus.ts';
import type { BrokerStats } from '../broker/index.ts';
import type { RuleHost } from './rules/rule-host.ts';
import type { SessionFigures } from './sessions/index.ts';
import type { RoamingFigures } from './devices/roaming.ts';
import type { EndpointListener } from './endpoints/endpoint-proxies.ts';
import type { UplinkSenderStats } from './uplink/index.ts';

/** What the agent's metrics are read from, at scrape time (undefined: that part does not run on this node). */
export interface AgentMetricSources {
  /** Caught up with the center on a live connection. */
  connected(): boolean;
  /** Times the connection to the center was lost since the agent started. */
  disconnects(): number;
  /** Catch-ups with the center that ended, by mode (the first after start included). */
  catchUps(): { delta: number; snapshot: number };
  revision(): number;
  uplink(): EdgeUplinkStatus | undefined;
  /** The uplink sender's retries and outages (undefined: no uplink on this node, or it is restarting). */
  uplinkSender(): UplinkSenderStats | undefined;
  broker(): BrokerStats | undefined;
  devices(): { known: number; connected: number } | undefined;
  rules(): ReturnType<RuleHost['current']>;
  instances(): { project: string; instance: string; phase: InstancePhase; ready: boolean; restarts: number }[];
  /** Split heads' figures on this node (split-inference.ts). */
  splits(): { project: string; instance: string; counters: NonNullable<InferenceStatus['split']> }[];
  /** Continuity's hand-overs on this node (agent/sessions). */
  sessions(): SessionFigures | undefined;
  /** This site's endpoints (agent/endpoints): their counters and overflow state. */
  endpoints(): EndpointListener[];
  /** Roaming devices' sessions to and from this node's broker (undefined: no broker here). */
  roaming(): RoamingFigures | undefined;
  /** The agent's supervised modules. */
  modules(): ModuleHealth[];
}

const PHASES: InstancePhase[] = ['Pending', 'Starting', 'Running', 'Succeeded', 'Failed', 'Unknown'];

/**
 * One agent's Prometheus metrics: its connection to the center, the uplink
 * queue, the edge broker, the site's devices, its rules and its workloads,
 * besides the process's own. Scraped through the center
 * (`GET /api/v1/nodes/{name}/metrics`, an admin or metrics token): the agent
 * dials out and listens for no one, and the center already knows who may
 * read metrics.
 */
export function agentMetrics(src: AgentMetricSources): { metrics(): Promise<string> } {
  const registry = processRegistry();
  // Each part is read once per scrape, by the first metric that needs it, and shared by the others.
  let scrape: { uplink?: EdgeUplinkStatus; sender?: UplinkSenderStats; broker?: BrokerStats; devices?: { known: number; connected: number }; instances: ReturnType<AgentMetricSources['instances']>; rules: ReturnType<AgentMetricSources['rules']> } | undefined;
  const now = () => (scrape ??= { uplink: src.uplink(), sender: src.uplinkSender(), broker: src.broker(), devices: src.devices(), instances: src.instances(), rules: src.rules() });
  const gauge = (name: string, help: string, read: (g: Gauge) => void, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers: [registry], collect() { this.reset(); read(this); } });
  /** A counter whose total the agent keeps (read at each scrape, never incremented here). */
  const total = (name: string, help: string, read: (c: Counter) => void, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry], collect() { this.reset(); read(this); } });

  gauge('gedge_agent_center_connected', '1 while the agent is caught up with the center on a live connection', (g) => g.set(src.connected() ? 1 : 0));
  total('gedge_agent_center_disconnects_total', 'Times the connection to the center was lost', (c) => c.inc(src.disconnects()));
  gauge('gedge_agent_applied_revision', 'The store revision the agent has applied', (g) => g.set(src.revision()));
  total('gedge_agent_catchups_total', "Catch-ups with the center after a (re)connect, by mode: delta (the changes since the agent's revision) or snapshot (everything, when the center no longer had them)", (c) => {
    const n = src.catchUps();
    c.inc({ mode: 'delta' }, n.delta);
    c.inc({ mode: 'snapshot' }, n.snapshot);
  }, ['mode']);

  // A part that does not run on this node (no broker: no uplink queue) shows no samples, rather than zeros.
  const u = <T>(read: (x: EdgeUplinkStatus) => T) => (): T | undefined => {
    const x = now().uplink;
    return x && read(x);
  };
  const b = <T>(read: (x: BrokerStats) => T) => (): T | undefined => {
    const x = now().broker;
    return x && read(x);
  };
  const value = (name: string, help: string, read: () => number | undefined) =>
    gauge(name, help, (g) => {
      const v = read();
      if (v !== undefined) g.set(v);
    });
  const count = (name: string, help: string, read: () => number | undefined) =>
    total(name, help, (c) => {
      const v = read();
      if (v !== undefined) c.inc(v);
    });
  const byLabel = (name: string, help: string, label: string, read: () => Record<string, number> | undefined) =>
    total(name, help, (c) => {
      for (const [k, v] of Object.entries(read() ?? {})) c.inc({ [label]: k }, v);
    }, [label]);

  value('gedge_uplink_queue_messages', 'Device messages held in the uplink queue', u((x) => x.depthMessages));
  value('gedge_uplink_queue_bytes', 'Payload and topic bytes held in the uplink queue', u((x) => x.depthBytes));
  value('gedge_uplink_queue_limit_messages', 'The uplink queue holds at most this many messages', u((x) => x.maxMessages));
  value('gedge_uplink_queue_limit_bytes', 'The uplink queue holds at most this many bytes', u((x) => x.maxBytes));
  value('gedge_uplink_oldest_message_age_seconds', 'Age of the oldest message waiting in the uplink queue', u((x) => x.oldestAgeMs / 1000));
  value('gedge_uplink_blocked_appends', 'Publishes waiting for room in a full queue (overflow policy block)', u((x) => x.blocked));
  count('gedge_uplink_enqueued_total', 'Device messages appended to the uplink queue', u((x) => x.enqueued));
  count('gedge_uplink_delivered_total', "Device messages the center acknowledged (landed in their route's sink)", u((x) => x.delivered));
  count('gedge_uplink_resends_total', 'Publishes recognised as a device resending one already queued', u((x) => x.resends));
  // The sender's, read once per scrape like the queue's (a restarted edge module starts them again from zero: a counter reset).
  const s = <T>(read: (x: UplinkSenderStats) => T) => (): T | undefined => {
    const x = now().sender;
    return x && read(x);
  };
  count('gedge_uplink_send_retries_total', 'Uplink sends that failed and were tried again (network errors, timeouts, 5xx)', s((x) => x.retries));
  count('gedge_uplink_outages_total', 'Uplink outages: from the start of a send that failed while no route was failing to the answer that ended the last failing route', s((x) => x.outages));
  count('gedge_uplink_outage_seconds_total', 'Time spent in uplink outages, the current one included', s((x) => x.outageSeconds));
  byLabel('gedge_uplink_dropped_total', 'Device messages the uplink queue dropped: overflow (full), expired (older than its ttl), route_gone (their route was deleted)', 'reason',
    u((x) => ({ overflow: x.droppedOverflow, expired: x.droppedExpired, route_gone: x.droppedRouteGone })));

  value('gedge_broker_connections', 'Device connections to the edge broker', b((x) => x.connections));
  count('gedge_broker_messages_received_total', 'Publishes accepted from devices (wills included)', b((x) => x.messagesIn));
  count('gedge_broker_messages_sent_total', 'PUBLISH packets written to devices', b((x) => x.messagesOut));
  byLabel('gedge_broker_denied_total', 'Refusals by the edge broker: auth (connections: identity or secret), publish and subscribe (the ACL), limit (connections over --mqtt-max-connections[-per-address])', 'what',
    b((x) => ({ auth: x.denied.auth, publish: x.denied.publish, subscribe: x.denied.subscribe, limit: x.refusedConnections })));

  gauge(
    'gedge_devices',
    "The site's devices known here, by whether they are connected to this edge",
    (g) => {
      const d = now().devices;
      if (!d) return;
      g.set({ state: 'connected' }, d.connected);
      g.set({ state: 'disconnected' }, Math.max(0, d.known - d.connected));
    },
    ['state'],
  );

  gauge(
    'gedge_instances',
    'Instances this node runs, by phase',
    (g) => {
      const counts = new Map(PHASES.map((p) => [p, 0]));
      for (const i of now().instances) counts.set(i.phase, (counts.get(i.phase) ?? 0) + 1);
      for (const [phase, n] of counts) g.set({ phase }, n);
    },
    ['phase'],
  );
  gauge('gedge_instance_ready', '1 while the instance passes its readiness probe (or runs, without one)', (g) => {
    for (const i of now().instances) g.set({ project: i.project, instance: i.instance }, i.ready ? 1 : 0);
  }, ['project', 'instance']);
  total('gedge_instance_restarts_total', 'Restarts of the instance on this node', (c) => {
    for (const i of now().instances) c.inc({ project: i.project, instance: i.instance }, i.restarts);
  }, ['project', 'instance']);

  // Split inference: where each row was answered, what went up, and T now.
  total('gedge_split_rows_total', 'Rows a split head answered on this node, by where: at the edge, by the cloud tail, or by the exit because the tail was unreachable', (c) => {
    for (const { project, instance, counters: k } of src.splits()) {
      c.inc({ project, instance, answered: 'edge' }, k.local);
      c.inc({ project, instance, answered: 'cloud' }, k.offloaded);
      c.inc({ project, instance, answered: 'fallback' }, k.fallbacks);
    }
  }, ['project', 'instance', 'answered']);
  total('gedge_split_uplink_bytes_total', "Bytes of cut tensors a split head sent to its tail (the wire format's, before the channel's framing)", (c) => {
    for (const { project, instance, counters: k } of src.splits()) c.inc({ project, instance }, k.bytesUp);
  }, ['project', 'instance']);
  gauge('gedge_split_threshold', "A split head's exit threshold T now (its goal may have raised it)", (g) => {
    for (const { project, instance, counters: k } of src.splits()) g.set({ project, instance }, k.threshold);
  }, ['project', 'instance']);

  // Continuity (GS-Link): clients' sessions handed over to and from this node.
  const sf = <T>(read: (x: SessionFigures) => T) => (): T | undefined => {
    const x = src.sessions();
    return x && read(x);
  };
  total('gedge_session_handovers_total', 'Client sessions handed over: in (to this node; ahead="true" when copied before the client came) or out', (c) => {
    const f = src.sessions();
    if (!f) return;
    c.inc({ direction: 'in', ahead: 'true' }, f.handedInAhead);
    c.inc({ direction: 'in', ahead: 'false' }, f.handedIn - f.handedInAhead);
    c.inc({ direction: 'out', ahead: 'false' }, f.handedOut);
  }, ['direction', 'ahead']);
  byLabel('gedge_session_bytes_total', 'Session documents handed over, in bytes of JSON, by direction', 'direction', sf((x) => ({ in: x.bytesIn, out: x.bytesOut })));
  count('gedge_session_predictions_total', "Clients predicted at another site, whose node was told to copy the session ahead", sf((x) => x.predicted));
  count('gedge_session_acquire_seconds_total', "Time instances' requests waited, in all, for their client's session to be brought here", sf((x) => x.acquireMs / 1000));
  count('gedge_session_acquires_total', 'Requests that waited for a session to be brought here (gedge_session_acquire_seconds_total over these is the mean wait)', sf((x) => x.acquires));
  count('gedge_session_unavailable_total', 'Requests answered 503: the session could not be brought here in time', sf((x) => x.unavailable));
  value('gedge_session_copies_ahead', 'Sessions this node holds copies of, ahead of their clients', sf((x) => x.copying));

  // Roaming devices (GS-Link): MQTT sessions that follow their devices between edge brokers.
  const rf = <T>(read: (x: RoamingFigures) => T) => (): T | undefined => {
    const x = src.roaming();
    return x && read(x);
  };
  byLabel('gedge_roaming_pulls_total', "Roaming devices' sessions this broker asked for as they connected, by outcome: moved (it came), none (none elsewhere), unavailable (its holder could not be asked), timeout (the CONNACK went without it), offline (the center out of reach)", 'outcome', rf((x) => x.pulls));
  count('gedge_roaming_exported_total', "Roaming devices' sessions this broker handed to another", rf((x) => x.exported));
  count('gedge_roaming_taken_back_total', "Sessions handed over whose arrival at the new broker was not confirmed in time, taken back here", rf((x) => x.takenBack));
  byLabel('gedge_roaming_forwarded_total', 'Messages for roaming devices whose session is at another broker: out (forwarded from here), in (taken into a session here), dropped', 'direction', rf((x) => x.forwarded));
  value('gedge_roaming_forwarding', 'Roaming devices whose session left this broker, which it forwards for', rf((x) => x.forwarding));

  // Endpoints (GS-Link): connections per Service port at this site, and its overflow to upper tiers.
  const eps = () => src.endpoints();
  total('gedge_endpoint_connections_total', 'Connections an endpoint relayed to an instance, by how they went: first (the first instance tried took it), failover (a later one did), refused (none did)', (c) => {
    for (const e of eps()) {
      const at = { project: e.project, service: e.service, port: e.port };
      c.inc({ ...at, outcome: 'first' }, e.connections - e.failovers);
      c.inc({ ...at, outcome: 'failover' }, e.failovers);
      c.inc({ ...at, outcome: 'refused' }, e.refused);
    }
  }, ['project', 'service', 'port', 'outcome']);
  total('gedge_endpoint_overflow_connections_total', 'Connections of a Service with overflow, by where its gate sent them: edge (this site) or upper (the tiers that take the overflow)', (c) => {
    for (const e of eps()) if (e.overflow) for (const [to, n] of [['edge', e.overflow.edge], ['upper', e.overflow.overflowed]] as const) c.inc({ project: e.project, service: e.service, port: e.port, to }, n);
  }, ['project', 'service', 'port', 'to']);
  gauge('gedge_endpoint_overflowing', '1 while requests of the Service at this site overflow to upper tiers (the state, with hold), 0 while the edge takes them all', (g) => {
    for (const e of eps()) if (e.overflow) g.set({ project: e.project, service: e.service, port: e.port }, e.overflow.state === 'overflowing' ? 1 : 0);
  }, ['project', 'service', 'port']);
  gauge('gedge_endpoint_overflow_limit', 'Requests in flight at the edge beyond which the next overflows (absent: no limit yet)', (g) => {
    for (const e of eps()) if (e.overflow?.limit !== null && e.overflow?.limit !== undefined) g.set({ project: e.project, service: e.service, port: e.port }, e.overflow.limit);
  }, ['project', 'service', 'port']);
  total('gedge_endpoint_overflow_switches_total', 'Changes of the overflow state (to overflowing and back)', (c) => {
    for (const e of eps()) if (e.overflow) c.inc({ project: e.project, service: e.service, port: e.port }, e.overflow.switches);
  }, ['project', 'service', 'port']);

  registerModuleMetrics(registry, src.modules);
  registerRuleMetrics(registry, ['project', 'rule'], async () => now().rules.map((r) => ({ labels: { project: r.project, rule: r.rule }, s: r.status })));
  return {
    metrics: async () => {
      scrape = undefined;
      try {
        return await registry.metrics();
      } finally {
        scrape = undefined;
      }
    },
  };
}
