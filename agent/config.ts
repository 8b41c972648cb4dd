import { hostname } from 'node:os';
import { z } from 'zod';
import { DEFAULT_LIMITS } from '../broker/limits.ts';
import { labelsSchema, nameSchema } from '../core/index.ts';
import { hostPortString } from '../core/host-port.ts';
import { uplinkOptionsSchema } from './uplink/options.ts';

export const agentConfigSchema = z
  .object({
    center: z.string().url(),
    /** Needed only for the first start; afterwards the identity in dataDir is reused. */
    joinToken: z.string().optional(),
    /** The center CA's pin (sha256:<hex>, given with the join token): needed for the first start only. */
    caPin: z.string().optional(),
    dataDir: z.string().min(1),
    name: nameSchema.default(() => hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 63) || 'node'),
    site: nameSchema.optional(),
    labels: labelsSchema.default({}),
    /** Overrides the detected capacity (e.g. to reserve room for other software on the node). */
    // Only the fields given override; zod 4's .partial() would keep the schema's defaults (0) and zero the rest.
    capacity: z
      .object({
        cpu: z.number().nonnegative().optional(),
        memoryMiB: z.number().nonnegative().optional(),
        diskMiB: z.number().nonnegative().optional(),
        accelerators: z.record(z.string(), z.number().int().nonnegative()).optional(),
      })
      .strict()
      .optional(),
    /** Initial reconnect delay; doubles up to reconnectMaxMs, with jitter. */
    reconnectMinMs: z.number().int().min(10).default(500),
    reconnectMaxMs: z.number().int().min(100).default(30_000),
    /** host:port of the probe responder peers measure round trips against; 'off': no probing at all. */
    probeListen: z.union([z.literal('off'), hostPortString(0)]).default('127.0.0.1:0'),
    /** host:port peers should dial (e.g. a public or NATed address); default the listen address. */
    probeAdvertise: hostPortString(1).optional(),
    /**
     * host:port of the endpoint resolver (GS-Link endpoints: GET /v1/endpoints); the endpoints themselves
     * listen on the same host. 'off': this agent serves no endpoints (and runs no gateway).
     */
    endpointListen: z.union([z.literal('off'), hostPortString(0)]).default('127.0.0.1:0'),
    /** host:port of the endpoint gateway other nodes' endpoints reach this node's instances through (mutual TLS). */
    gatewayListen: hostPortString(0).default('127.0.0.1:0'),
    /** host:port other nodes should dial for the gateway; default the listen address. */
    gatewayAdvertise: hostPortString(1).optional(),
    /**
     * host:port of the edge broker's MQTTS listener (TLS with the node's
     * certificate, issued by the center's CA; devices verify it and may
     * present certificates of their own). The broker runs when any listener is set.
     */
    mqttTlsListen: hostPortString(0).optional(),
    /** host:port of the broker's MQTT over secure WebSocket listener (path /mqtt). */
    mqttWssListen: hostPortString(0).optional(),
    /** host:port of a plain (unencrypted) MQTT listener; 'off' (default): none. On, the node's status carries a warning. */
    mqttListen: z.union([z.literal('off'), hostPortString(0)]).default('off'),
    /** host:port of a plain MQTT over WebSocket listener (path /mqtt); off when unset. */
    mqttWsListen: hostPortString(0).optional(),
    /** What the edge broker accepts (broker/limits.ts): packet size, CONNECT timeout, connections. */
    mqttLimits: z
      .object({
        maxPacketBytes: z.number().int().min(1024).max(256 * 1024 * 1024).default(DEFAULT_LIMITS.maxPacketBytes),
        maxConnectBytes: z.number().int().min(1024).max(1024 * 1024).default(DEFAULT_LIMITS.maxConnectBytes),
        connectTimeoutMs: z.number().int().min(100).max(600_000).default(DEFAULT_LIMITS.connectTimeoutMs),
        maxConnections: z.number().int().min(1).default(DEFAULT_LIMITS.maxConnections),
        maxConnectionsPerAddress: z.number().int().min(1).default(DEFAULT_LIMITS.maxConnectionsPerAddress),
      })
      .strict()
      .default(DEFAULT_LIMITS),
    /** Networks (CIDR) rules' webhooks may reach beyond the default policy, which refuses link-local, unspecified and multicast addresses (core/egress.ts). */
    egressAllow: z.array(z.string()).default([]),
    /** The store-and-forward uplink's queue and sender (docs/uplink.md). */
    uplink: uplinkOptionsSchema.default(uplinkOptionsSchema.parse({})),
    /** Container workloads through podman: 'auto' when podman with runc works here, 'podman' requires it, 'off' never. */
    containerRuntime: z.enum(['auto', 'podman', 'off']).default('auto'),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  })
  .strict();
export type AgentConfig = z.infer<typeof agentConfigSchema>;
