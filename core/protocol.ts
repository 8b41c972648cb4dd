import { z } from 'zod';
import { edgeUplinkStatusSchema } from './uplink-wire.ts';
import { tierSchema } from './schema-base.ts';
import { ENDPOINT_PORTS_MAX, overflowingSchema, overflowSpecSchema } from './link-schema.ts';
import { geoPointSchema } from './placement-schema.ts';
import { roamedSessionSchema, roamForwardSchema } from './roaming-wire.ts';
import { deviceCommandSchema, deviceCommandStatusSchema, deviceCredentialSchema, deviceSchema, deviceStatusSchema, instanceSchema, instanceStatusSchema, nameSchema, runtimeKindSchema, resourcesSchema, routeSchema, ruleSchema, ruleNodeStatusSchema, nodeSchema, siteSchema } from './resources.ts';

/**
 * The agent <-> center protocol. An agent dials out over one WebSocket
 * (`/api/v1/agent/connect`, bearer node credential) and everything is
 * multiplexed over it as JSON text frames, one message each, tagged by `t`.
 *
 * Sync is revision-based: each change carries its store revision; the agent
 * acknowledges the highest revision it has applied and durably stored; on
 * reconnect `hello.lastRevision` asks for only the changes after it. When the
 * center compacted past that revision it sends a full `snapshot` instead.
 */

export const probeAddressSchema = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) });
export type ProbeAddress = z.infer<typeof probeAddressSchema>;
/**
 * One instance behind a Service's endpoint, as the center's endpoint
 * directory tells every agent: where it runs, whether it is ready, its ports
 * on its node, and the node's endpoint gateway (how another node reaches it).
 */
export const endpointBackendSchema = z
  .object({
    instance: nameSchema,
    node: nameSchema,
    site: nameSchema.optional(),
    tier: tierSchema.optional(),
    /** The site's place on the map (continuity predicts a moving client's next site from it). */
    location: geoPointSchema.optional(),
    ready: z.boolean(),
    ports: z.record(nameSchema, z.number().int().min(1).max(65535)),
    gateway: probeAddressSchema.optional(),
  })
  .strict();
export type EndpointBackend = z.infer<typeof endpointBackendSchema>;
/** Instances in one set at most: replicas and the surge of a rollout, each at most 10,000. */
export const ENDPOINT_BACKENDS_MAX = 20_000;
/** Nodes in the full list of an `endpoints` message at most. */
export const ENDPOINT_NODES_MAX = 200_000;
/** Sets (and node changes) in one `endpoints` message at most: the center sends a bigger directory in several. */
export const ENDPOINT_SETS_PER_MESSAGE = 500;
export const endpointSetSchema = z
  .object({
    project: nameSchema,
    service: nameSchema,
    ports: z.array(nameSchema).max(ENDPOINT_PORTS_MAX),
    backends: z.array(endpointBackendSchema).max(ENDPOINT_BACKENDS_MAX),
    /** The Service's overflow to upper tiers, when it declares one. */
    overflow: overflowSpecSchema.optional(),
  })
  .strict();
export type EndpointSet = z.infer<typeof endpointSetSchema>;

/** A port by name in a ports record (an instance's status, a backend), never a property every object inherits ("constructor"). */
export function portNamed(ports: Record<string, number> | undefined, name: string): number | undefined {
  const port = ports && Object.hasOwn(ports, name) ? ports[name] : undefined;
  return typeof port === 'number' && Number.isInteger(port) && port > 0 && port <= 65535 ? port : undefined;
}

export const peerSchema = z.object({ node: nameSchema, site: nameSchema, host: z.string().min(1), port: z.number().int().min(1).max(65535) });
export type Peer = z.infer<typeof peerSchema>;

/** A node's usage in a heartbeat; network rates in bytes per second since the previous heartbeat, loopback included (absent off Linux). */
export const usageSchema = z.object({ cpu: z.number(), memoryMiB: z.number(), diskMiB: z.number(), netRxBps: z.number().nonnegative().optional(), netTxBps: z.number().nonnegative().optional() });
export type NodeUsage = z.infer<typeof usageSchema>;

/** One running instance's process tree: CPU in cores since the previous heartbeat, resident memory. */
export const instanceUsageSchema = z.object({ project: nameSchema, name: nameSchema, cpu: z.number().nonnegative(), memoryMiB: z.number().nonnegative() }).strict();
export type InstanceUsage = z.infer<typeof instanceUsageSchema>;

export const agentEventSchema = z.object({
  reason: z.string().min(1).max(128),
  message: z.string().max(4096),
  type: z.enum(['Normal', 'Warning']),
  at: z.string(),
  involved: z.object({ kind: z.string(), name: z.string(), project: z.string().optional() }),
});
export type AgentEvent = z.infer<typeof agentEventSchema>;

/** Exec data travels base64 in chunks of at most this many bytes, so no message grows large. */
export const EXEC_CHUNK = 32 * 1024;
const EXEC_CHUNK_B64 = Math.ceil(EXEC_CHUNK / 3) * 4;
/** Output bytes an exec stream may have unacknowledged before the agent pauses the command's output. */
export const EXEC_WINDOW = 512 * 1024;

/** A cut tensor offloaded for split inference, base64 (inference/early-exit.ts's wire format), at most this long. */
export const OFFLOAD_DATA_MAX = 1024 * 1024;
/** A tail's answer: its outputs, each at most this many numbers. */
export const offloadOutputSchema = z.object({ name: z.string().min(1).max(128), datatype: z.string().min(1).max(16), shape: z.array(z.number().int().nonnegative()).max(8), data: z.array(z.number()).max(65_536) }).strict();
export type OffloadOutput = z.infer<typeof offloadOutputSchema>;

/**
 * A tunnel: a byte stream between two agents relayed by the center, for the
 * conversations of continuity's hand-overs when the nodes cannot reach each
 * other's gateways (docs/link.md). Data travels base64 in chunks of at most
 * TUNNEL_CHUNK bytes; `dir` is "out" on the side that opened the tunnel and
 * "in" on the other, whose ids the center gives.
 */
export const TUNNEL_CHUNK = 48 * 1024;
const TUNNEL_CHUNK_B64 = Math.ceil(TUNNEL_CHUNK / 3) * 4;
const tunnelDir = z.enum(['out', 'in']);
const tunnelData = z.object({ t: z.literal('tunnel.data'), id: z.number().int().nonnegative(), dir: tunnelDir, data: z.string().max(TUNNEL_CHUNK_B64) });
const tunnelClose = z.object({ t: z.literal('tunnel.close'), id: z.number().int().nonnegative(), dir: tunnelDir, error: z.string().max(1024).optional() });

// ---- agent -> center ---------------------------------------------------------
/** At most this many rules and routes in hello.holds; an agent holding more sends none and gets a snapshot. */
export const HELLO_HOLDS_MAX = 10_000;
/** An agent's metrics text, at most (the center's agent connections take 4 MiB messages): a few thousand series is ~1 MiB. */
export const METRICS_TEXT_MAX = 3 * 1024 * 1024;
export const agentMessageSchema = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('hello'),
    lastRevision: z.number().int().nonnegative(),
    agent: z.object({ version: z.string(), os: z.string(), arch: z.string(), pid: z.number().int() }),
    capacity: resourcesSchema,
    /** Where peers reach this agent's probe responder (for agent-to-agent round trips); absent: not probed. */
    probe: probeAddressSchema.optional(),
    /** The edge MQTT broker's ports, when it runs. */
    /** The edge broker's listeners: tls and wss encrypted, tcp and ws in clear (only when the operator turned them on). */
    mqtt: z
      .object({ host: z.string().min(1), tcp: z.number().int().min(1).max(65535).optional(), ws: z.number().int().min(1).max(65535).optional(), tls: z.number().int().min(1).max(65535).optional(), wss: z.number().int().min(1).max(65535).optional() })
      .optional(),
    /** Where other nodes reach this agent's endpoint gateway (mutual TLS with node certificates); absent: it serves no endpoints. */
    gateway: probeAddressSchema.optional(),
    /** The workload runtimes this node offers (template.runtime values); absent: process only. */
    runtimes: z.array(runtimeKindSchema).max(16).optional(),
    /**
     * The rules and routes in the agent's local state: a delta catch-up tells it which of these stopped
     * concerning it (`forget`), and names nothing else. Absent: the catch-up is a snapshot.
     */
    holds: z.array(z.object({ kind: z.enum(['Rule', 'Route']), project: nameSchema, name: nameSchema })).max(HELLO_HOLDS_MAX).optional(),
  }),
  /** Usage of the node and of its running instances (absent: an agent that does not report them). */
  z.object({
    t: z.literal('hb'),
    usage: usageSchema,
    uplink: edgeUplinkStatusSchema.optional(),
    instances: z.array(instanceUsageSchema).max(10000).optional(),
    /** The Services whose requests this node's endpoints overflow to upper tiers now (GS-Link offloading); absent: none. */
    overflowing: overflowingSchema.optional(),
  }),
  z.object({ t: z.literal('ack'), revision: z.number().int().nonnegative() }),
  z.object({ t: z.literal('status'), project: nameSchema, instance: nameSchema, status: instanceStatusSchema }),
  z.object({ t: z.literal('events'), events: z.array(agentEventSchema).max(1000) }),
  /** Devices' connection state, last seen and reported twin, as the edge saw them (coalesced, newest per device). */
  z.object({ t: z.literal('devices'), updates: z.array(z.object({ project: nameSchema, device: nameSchema, status: deviceStatusSchema.partial() })).max(10_000) }),
  /** The rules this node runs, their state and counters (sent when they changed, at most once a heartbeat); null: it no longer runs the rule. */
  z.object({ t: z.literal('rules'), reports: z.array(z.object({ project: nameSchema, rule: nameSchema, status: ruleNodeStatusSchema.nullable() })).max(10_000) }),
  /** Commands delivered (or expired) at the edge. */
  z.object({ t: z.literal('commands'), updates: z.array(z.object({ project: nameSchema, command: nameSchema, status: deviceCommandStatusSchema })).max(10_000) }),
  /** The answer to metrics.scrape: the agent's metrics in Prometheus' text format, or why it has none. */
  z.object({ t: z.literal('metrics'), id: z.number().int(), text: z.string().max(METRICS_TEXT_MAX), error: z.string().max(4096).optional() }),
  z.object({ t: z.literal('logs.data'), stream: z.number().int(), data: z.string() }),
  z.object({ t: z.literal('logs.end'), stream: z.number().int(), error: z.string().optional() }),
  /** The exec'd command is running; what the center sent before this is delivered to it. */
  z.object({ t: z.literal('exec.started'), stream: z.number().int() }),
  /** Output, at most EXEC_CHUNK bytes before base64; fd 1 carries everything under a tty. */
  z.object({ t: z.literal('exec.output'), stream: z.number().int(), fd: z.union([z.literal(1), z.literal(2)]), data: z.string().max(EXEC_CHUNK_B64) }),
  /** The command ended and all its output was sent before this message. */
  z.object({ t: z.literal('exec.exit'), stream: z.number().int(), code: z.number().int().nullable(), signal: z.string().nullable() }),
  /** The command could not be run, or its stream ended without an exit (the agent is stopping). */
  z.object({ t: z.literal('exec.error'), stream: z.number().int(), message: z.string().max(4096) }),
  /**
   * Split inference: the hard inputs of an instance of this node (a split head) as its cut tensor, for
   * a ready instance of the split's tail Service. Answered by offload.result with the same id.
   */
  z.object({ t: z.literal('offload'), id: z.number().int().nonnegative(), project: nameSchema, instance: nameSchema, data: z.string().max(OFFLOAD_DATA_MAX) }),
  /** The answer to offload.run: the tail's outputs, or why there are none. */
  z.object({ t: z.literal('offload.answer'), id: z.number().int().nonnegative(), outputs: z.array(offloadOutputSchema).max(16).optional(), error: z.string().max(4096).optional() }),
  /**
   * A roaming device of this node's site is connecting here: its MQTT session, wherever it is, is to come
   * here (answered by roam.pulled with the same id). `clean`: the device starts afresh; the old session ends.
   */
  z.object({ t: z.literal('roam.pull'), id: z.number().int().nonnegative(), project: nameSchema, device: nameSchema, clean: z.boolean() }),
  /** The answer to roam.export: the session, which this broker no longer holds (null: it held none). */
  z.object({ t: z.literal('roam.session'), id: z.number().int().nonnegative(), session: roamedSessionSchema.nullable() }),
  /** A session that came with roam.pulled (its `ack`) is in this broker's store now: the node that handed it over may forget its copy. */
  z.object({ t: z.literal('roam.imported'), ack: z.number().int().positive() }),
  /** Messages published here after the device's session left, for the session wherever it is now. */
  roamForwardSchema.extend({ t: z.literal('roam.forward') }),
  /** Opens a tunnel to `node`'s session handler; `request` is the session request line a gateway would be sent. */
  z.object({ t: z.literal('tunnel.open'), id: z.number().int().nonnegative(), node: nameSchema, request: z.string().min(1).max(1024) }),
  tunnelData,
  /** This end is done with the tunnel (or could not serve it: `error`). */
  tunnelClose,
  /**
   * Round trips measured since the last report, one smoothed figure per target:
   * to the center over this connection, and to each peer from `peers`.
   * rttMs null: every probe in the period failed (the link is down).
   */
  z.object({
    t: z.literal('rtt'),
    centerMs: z.number().nonnegative().nullable().optional(),
    peers: z.array(z.object({ node: nameSchema, rttMs: z.number().nonnegative().nullable() })).max(10_000),
  }),
]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;

// ---- center -> agent ---------------------------------------------------------
/** What an agent is sent: its node's instances and its site's devices, credentials, routes and commands. */
export const edgeObjectSchema = z.discriminatedUnion('kind', [instanceSchema, deviceSchema, deviceCredentialSchema, routeSchema, deviceCommandSchema, ruleSchema, nodeSchema, siteSchema]);
export const centerMessageSchema = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('welcome'),
    node: nameSchema,
    /** The node's site (the agent keeps the routes and devices of it). */
    site: nameSchema.optional(),
    mode: z.enum(['delta', 'snapshot']),
    heartbeatMs: z.number().int().positive(),
  }),
  z.object({ t: z.literal('change'), revision: z.number().int(), op: z.enum(['put', 'delete']), object: edgeObjectSchema }),
  z.object({ t: z.literal('snapshot'), revision: z.number().int(), objects: z.array(edgeObjectSchema) }),
  /** A rule or route no longer concerns this node (deleted, or retargeted elsewhere): its key, never its content. */
  z.object({ t: z.literal('forget'), revision: z.number().int(), kind: z.enum(['Rule', 'Route']), project: nameSchema, name: nameSchema }),
  /** Everything up to `revision` that concerns this node has been sent (end of catch-up, or a bookmark). */
  z.object({ t: z.literal('synced'), revision: z.number().int() }),
  z.object({
    t: z.literal('logs.open'),
    stream: z.number().int(),
    project: nameSchema,
    instance: nameSchema,
    follow: z.boolean(),
    tailBytes: z.number().int().nonnegative(),
    /** Only output written at or after this time (ms since the epoch), to the log index's resolution. */
    since: z.number().int().nonnegative().optional(),
  }),
  z.object({ t: z.literal('logs.close'), stream: z.number().int() }),
  /** A scrape of the agent's /metrics through the center (GET /api/v1/nodes/{name}/metrics): answered by a metrics message with the same id. */
  z.object({ t: z.literal('metrics.scrape'), id: z.number().int() }),
  /**
   * `gedge exec`: runs a command inside a running instance. Output comes back
   * as exec.output; the agent pauses it while more than EXEC_WINDOW bytes
   * are not yet acknowledged by exec.ack (sent once the client has them).
   */
  z.object({
    t: z.literal('exec.open'),
    stream: z.number().int(),
    project: nameSchema,
    instance: nameSchema,
    command: z.array(z.string().max(64 * 1024)).min(1).max(1024),
    tty: z.boolean(),
    cols: z.number().int().min(1).max(10_000).optional(),
    rows: z.number().int().min(1).max(10_000).optional(),
  }),
  z.object({ t: z.literal('exec.stdin'), stream: z.number().int(), data: z.string().max(EXEC_CHUNK_B64) }),
  /** End of the command's input. */
  z.object({ t: z.literal('exec.eof'), stream: z.number().int() }),
  z.object({ t: z.literal('exec.resize'), stream: z.number().int(), cols: z.number().int().min(1).max(10_000), rows: z.number().int().min(1).max(10_000) }),
  /** Output bytes (before base64) the client has received. */
  z.object({ t: z.literal('exec.ack'), stream: z.number().int(), bytes: z.number().int().positive() }),
  /** The client went away: kill the command. */
  z.object({ t: z.literal('exec.close'), stream: z.number().int() }),
  /** Runs an offloaded cut tensor through a tail instance of this node; answered by offload.answer. */
  z.object({ t: z.literal('offload.run'), id: z.number().int().nonnegative(), project: nameSchema, instance: nameSchema, data: z.string().max(OFFLOAD_DATA_MAX) }),
  /** The answer to an offload: the tail's outputs, or an error with an HTTP-like code (404 no tail ready, 429 too many in flight, 504 timed out...). */
  z.object({ t: z.literal('offload.result'), id: z.number().int().nonnegative(), outputs: z.array(offloadOutputSchema).max(16).optional(), code: z.number().int().optional(), error: z.string().max(4096).optional() }),
  /** Hand a roaming device's MQTT session over (it connected at another node): answered by roam.session. */
  z.object({ t: z.literal('roam.export'), id: z.number().int().nonnegative(), project: nameSchema, device: nameSchema, clean: z.boolean() }),
  /** The answer to roam.pull: the session from the broker that held it (null: none to bring), or why it could not be asked; id 0: a session handed over late, or back to its sender. */
  z.object({
    t: z.literal('roam.pulled'),
    id: z.number().int().nonnegative(),
    project: nameSchema,
    device: nameSchema,
    session: roamedSessionSchema.nullable(),
    /** With a session: what roam.imported says once it is stored here. */
    ack: z.number().int().positive().optional(),
    from: nameSchema.optional(),
    error: z.string().max(4096).optional(),
  }),
  /** The session this node handed over under export `id` is stored at its new broker: the copy kept here goes. */
  z.object({ t: z.literal('roam.confirmed'), id: z.number().int().nonnegative() }),
  /** Messages another broker forwards to the device's session here. */
  roamForwardSchema.extend({ t: z.literal('roam.forward') }),
  /** Node `from` opened a tunnel to this node's session handler, with this request line. */
  z.object({ t: z.literal('tunnel.open'), id: z.number().int().nonnegative(), from: nameSchema, request: z.string().min(1).max(1024) }),
  tunnelData,
  /** The other end is done with the tunnel, or it could not be opened or went away (`error`). */
  tunnelClose,
  /**
   * Whom to probe and how: the peers (a few nodes per other site), the period,
   * and the key that authenticates probes (HMAC), so that a responder answers
   * only members of this platform. Replaces any earlier list.
   */
  z.object({ t: z.literal('peers'), key: z.string().min(16), intervalMs: z.number().int().positive(), peers: z.array(peerSchema) }),
  /**
   * The endpoint directory: every exposed Service's instances. `full`: these
   * sets replace all the agent holds (the first message after the welcome; a
   * directory bigger than one message goes on in messages that are not full);
   * else they replace the sets of the same Services, and `gone` names
   * Services no longer exposed.
   */
  z.object({
    t: z.literal('endpoints'),
    full: z.boolean(),
    sets: z.array(endpointSetSchema).max(ENDPOINT_SETS_PER_MESSAGE),
    gone: z.array(z.object({ project: nameSchema, service: nameSchema }).strict()).max(ENDPOINT_SETS_PER_MESSAGE).default([]),
    /**
     * The platform's nodes, whose certificates a gateway takes (a deleted node's no longer): all of them
     * with `full`, else those added and deleted since.
     */
    nodes: z.array(nameSchema).max(ENDPOINT_NODES_MAX).optional(),
    nodesAdded: z.array(nameSchema).max(ENDPOINT_SETS_PER_MESSAGE).optional(),
    nodesGone: z.array(nameSchema).max(ENDPOINT_SETS_PER_MESSAGE).optional(),
  }),
]);
export type CenterMessage = z.infer<typeof centerMessageSchema>;

/** Close codes the center uses; the agent treats 4401 as "credential revoked" and stops retrying. */
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_REPLACED = 4409;
export const CLOSE_PROTOCOL = 4400;

export const AGENT_CONNECT_PATH = '/api/v1/agent/connect';
