import type { Logger } from 'pino';
import type { AgentEvent, AgentMessage, Instance, InstanceStatus, Resources } from '../core/index.ts';
import type { AgentConfig } from './config.ts';
import type { LocalState } from './local-state.ts';
import type { Workloads } from './workloads.ts';
import type { ProcessRuntime } from './runtime/process-runtime.ts';
import type { NodeCertificate } from './node-certificate.ts';
import type { EdgeObjects } from './devices/edge-objects.ts';
import type { EdgeParts } from './edge.ts';
import type { RuleHost } from './rules/rule-host.ts';
import type { NetworkProbing } from './network/index.ts';
import type { ConnectionEvent } from './connection.ts';
import type { NodeModels } from './models/model-client.ts';
import type { OffloadClient } from './models/offload-client.ts';
import type { SplitInference } from './models/split-inference.ts';
import type { EndpointTable } from './endpoints/endpoint-table.ts';
import type { Endpoints } from './endpoints/endpoints.ts';
import type { Sessions } from './sessions/index.ts';
import type { Roaming } from './devices/roaming.ts';
import type { Tunnels } from './sessions/tunnels.ts';

/** Everything observable about the agent, as typed events. */
export type AgentStatusEvent =
  | ConnectionEvent
  | { type: 'joined'; node: string }
  | { type: 'restored'; instances: number }
  | { type: 'broker'; tcp?: number; ws?: number; tls?: number; wss?: number }
  | { type: 'resynced'; mode: 'delta' | 'snapshot'; changes: number; revision: number };

/**
 * What the agent's modules (modules.ts, channel.ts) share: each sets its
 * parts when it starts and clears them when it stops, and reaches the
 * others' through here at the moment of use, never keeping them (a
 * restarted module has new ones). A field is set once the module that owns
 * it has started: `state` and `identity` by essential modules that come
 * first; `edge`, `rules` and `network` may be absent (not configured, or
 * backing off after a failure).
 */
export interface AgentParts {
  readonly cfg: AgentConfig;
  readonly log: Logger;
  /** The site's devices, credentials, commands, routes and rules: synced like instances, kept across restarts. */
  readonly objects: EdgeObjects;
  /** Local state (module `state`). */
  state: LocalState;
  /** The revision applied to local state (module `state` reads it, the channel's sync advances it). */
  revision: number;
  /** The node's site, from the center's welcome (kept in local state for offline restarts). */
  site: string | undefined;
  /** Module `identity`. */
  identity: { node: string; credential: string };
  cert: NodeCertificate;
  capacity: Resources;
  /** Module `workloads`. */
  workloads: Workloads;
  processRuntime: ProcessRuntime;
  /** Module `edge`: the broker, device service and uplink (when MQTT is configured) and the rules. */
  edge: EdgeParts | undefined;
  rules: RuleHost | undefined;
  /** Module `probing`. */
  network: NetworkProbing | undefined;
  /** The endpoint directory from the center (GS-Link endpoints), kept in local state. */
  readonly endpointTable: EndpointTable;
  /** Module `endpoints`: this site's endpoints, the node's gateway, the resolver. */
  endpoints: Endpoints | undefined;
  /** Module `sessions`: clients' session state for Services with continuity, and its hand-overs (GS-Link). */
  sessions: Sessions | undefined;
  /** The models served on this node, for inference over MQTT and rules (split heads offload through `offloads`). */
  readonly models: NodeModels;
  /** Split inference's offloads over the channel: a head's hard inputs out, a tail's runs in. */
  readonly offloads: OffloadClient;
  /** Split inference at the edge: each split head's threshold and figures. */
  readonly split: SplitInference;
  /** Roaming devices' MQTT sessions to and from other nodes' brokers, through the center. */
  readonly roaming: Roaming;
  /** Continuity's hand-over conversations through the center, with nodes whose gateway cannot be reached. */
  readonly tunnels: Tunnels;

  /** To the center, when connected (false: not sent). */
  send(m: AgentMessage): boolean;
  /** To the center only while caught up: device and rule reports are about the revision the center is at. */
  sendLive(m: AgentMessage): boolean;
  status(e: AgentStatusEvent): void;
  /** Into the durable outbox, then to the center when it can hear it. */
  recordEvent(e: AgentEvent): Promise<void>;
  reportStatus(i: Instance, s: InstanceStatus): void;
}

/** Hands the node's own objects and the synced rules to the rule host. */
export function syncRules(p: AgentParts): void {
  const own = p.objects.own();
  p.rules?.sync(p.objects.rules(), { node: p.identity.node, site: p.site, nodeObject: own.node, siteObject: own.site });
}
