import { z } from 'zod';
import { nameSchema, durationSchema } from './schema-base.ts';

/**
 * Devices and their data path: Device (identity, grants, twin), the
 * credentials it signs in with, Routes (edge topic -> cloud sink) and
 * DeviceCommands (cloud -> device). See docs/broker.md for the topics.
 *
 * Topics are per project: a device of project P publishing `a/b` publishes
 * `a/b` in P's topic space and nothing outside it exists for it (the edge
 * broker mounts each project under its own prefix). Within the project a
 * device may publish and subscribe under `devices/<name>/#` plus what its
 * grants add.
 */

// No wildcards and no NUL (MQTT forbids U+0000 in topics).
const noWildcards = (t: string): boolean => !t.includes('#') && !t.includes('+') && !t.includes(String.fromCharCode(0));
/** An MQTT topic filter: levels split by '/', '+' a whole level, '#' only as the last level. */
export const topicFilterSchema = z
  .string()
  .min(1)
  .max(512)
  .refine((f) => !f.startsWith('$'), 'topics starting with "$" are reserved')
  .refine((f) => f.split('/').every((level, i, all) => level === '+' || (level === '#' && i === all.length - 1) || noWildcards(level)), 'invalid topic filter: "+" must be a whole level and "#" only the last level');
/** A topic name (no wildcards). */
export const topicNameSchema = z
  .string()
  .min(1)
  .max(512)
  .refine((t) => !t.startsWith('$'), 'topics starting with "$" are reserved')
  .refine(noWildcards, 'a topic name has no wildcards ("+", "#")');

// ---- Device --------------------------------------------------------------------
export const deviceSpecSchema = z
  .object({
    /** The edge site whose broker the device connects to. Fixed once created (delete and recreate to move it). */
    site: nameSchema,
    /**
     * Other edge sites whose brokers the device may connect to as it moves (a vehicle, a phone): each of them
     * authenticates it, and its MQTT session (subscriptions, queued messages) follows it from broker to broker
     * (docs/broker.md, "Roaming").
     */
    roaming: z
      .object({ sites: z.array(nameSchema).min(1).max(64).refine((s) => new Set(s).size === s.length, 'a site is named twice') })
      .strict()
      .optional(),
    description: z.string().max(1024).default(''),
    /** Topics beyond the device's own namespace `devices/<name>/#`, within its project. */
    grants: z
      .object({ publish: z.array(topicFilterSchema).max(100).default([]), subscribe: z.array(topicFilterSchema).max(100).default([]) })
      .strict()
      .default({ publish: [], subscribe: [] }),
    /** What the device should be: delivered on `devices/<name>/twin/desired` with version = metadata.generation. */
    twin: z.object({ desired: z.record(z.string(), z.unknown()).default({}) }).strict().default({ desired: {} }),
  })
  .strict();
export const deviceStatusSchema = z
  .object({
    connected: z.boolean().default(false),
    /** The edge node the device is (or was last) connected to. */
    node: nameSchema.optional(),
    lastSeen: z.string().optional(),
    connectedAt: z.string().optional(),
    /** What the device reports, merged; version stamped by the edge (newer wins, see docs/broker.md). */
    reported: z.record(z.string(), z.unknown()).default({}),
    reportedVersion: z.number().int().nonnegative().default(0),
    /** The desired version the device last acknowledged. */
    desiredAckVersion: z.number().int().nonnegative().default(0),
    /** Publishes and subscribes the edge refused (ACL), since the agent started. */
    denied: z.number().int().nonnegative().default(0),
  })
  .strict();

/** Every site whose broker accepts the device: its own, then those it roams to. */
export function deviceSites(spec: { site: string; roaming?: { sites: string[] } }): string[] {
  return spec.roaming ? [spec.site, ...spec.roaming.sites.filter((s) => s !== spec.site)] : [spec.site];
}

// ---- DeviceCredential ------------------------------------------------------------
/**
 * What a device signs in with, issued only by the center: a secret
 * (`POST .../devices/NAME/credentials`; the secret is returned once, only its
 * sha256 is kept) or an X.509 client certificate from the center's CA
 * (`POST .../devices/NAME/certificates` with a CSR; the credential is named
 * by the certificate's serial and holds its fingerprint). Either is synced to
 * the device's edge, which authenticates offline. Deleting it revokes it.
 */
export const deviceCredentialSpecSchema = z
  .object({
    device: nameSchema,
    /** Secret credentials: sha256 of the secret, hex. */
    hash: z.string().regex(/^[a-f0-9]{64}$/, 'a sha256 hex digest').optional(),
    /** Certificate credentials: the certificate's sha256 fingerprint (hex) and end. */
    certificate: z.object({ fingerprint: z.string().regex(/^[a-f0-9]{64}$/, 'a sha256 hex digest'), notAfter: z.string().datetime() }).strict().optional(),
    expiresAt: z.string().datetime().optional(),
    description: z.string().max(1024).default(''),
  })
  .strict()
  .refine((s) => (s.hash === undefined) !== (s.certificate === undefined), { message: 'a credential is either a secret (hash) or a certificate, not both and not neither', path: ['hash'] });

// ---- Route (edge -> cloud) ---------------------------------------------------------
/** How long a table sink keeps a route's rows when the Route says nothing. */
export const DEFAULT_TABLE_MAX_AGE = '7d';

/**
 * How long the table sink keeps a route's messages. The center sweeps
 * periodically (center config `tableSweepMs`) and deletes rows that landed
 * more than `maxAge` ago (default 7d; also when `retention` is
 * omitted) and, when `maxMessages` is set, the oldest rows beyond that many
 * per route. Only stored rows go: the uplink progress that makes delivery
 * exactly-once is kept, so a resent old batch is still skipped.
 */
export const tableRetentionSchema = z
  .object({
    /** By the time a row landed in the center; at most 10 years. */
    maxAge: durationSchema({ min: '1s', max: '3650d' }).default(DEFAULT_TABLE_MAX_AGE),
    /** Keep at most this many of the route's newest rows (from every node); unbounded when unset. */
    maxMessages: z.number().int().min(1).max(1_000_000_000).optional(),
  })
  .strict();
export type TableRetention = z.infer<typeof tableRetentionSchema>;

export const sinkSchema = z.discriminatedUnion('type', [
  /** The center's own durable table: `gedge messages ROUTE`, GET /api/v1/routes/R/messages?project=P. Kept per `retention` (default: 7 days). */
  z.object({ type: z.literal('table'), retention: tableRetentionSchema.optional() }).strict(),
  /** An external MQTT broker; `{topic}` in `topic` is replaced by the message's topic. */
  z
    .object({
      type: z.literal('mqtt'),
      url: z.string().regex(/^mqtts?:\/\/[^\s]+$/, 'mqtt://host:port or mqtts://host:port'),
      topic: z.string().min(1).max(512).default('{topic}'),
      qos: z.union([z.literal(0), z.literal(1)]).default(1),
      username: z.string().optional(),
      password: z.string().optional(),
      /** The MQTT client id (random when omitted); a gedge edge broker knows a device by it: `<project>/<device>`. */
      clientId: z.string().min(1).max(256).optional(),
    })
    .strict(),
  /** NATS JetStream: published with a Nats-Msg-Id, so the stream drops redeliveries. `{topic}` as above, with '/' turned into '.'. */
  z
    .object({
      type: z.literal('nats'),
      url: z.string().regex(/^nats:\/\/[^\s]+$/, 'nats://host:port'),
      subject: z.string().min(1).max(512).default('{topic}'),
    })
    .strict(),
]);
export type Sink = z.infer<typeof sinkSchema>;

export const routeSpecSchema = z
  .object({
    /** Which messages on the edge broker (the project's topics) go up. */
    topic: topicFilterSchema,
    /** Edges that run it; all the project's edges when omitted. */
    sites: z.array(nameSchema).min(1).optional(),
    sink: sinkSchema,
  })
  .strict();
/** A row of a route's table sink, as GET /api/v1/routes/R/messages?project=P returns it. */
export const sinkMessageSchema = z
  .object({
    /** The paging cursor: increases with every row the center stores (across routes). */
    id: z.number().int().positive(),
    /** The edge node that sent it, and its seq in that node's uplink queue. */
    node: z.string(),
    seq: z.number().int().positive(),
    topic: z.string(),
    /** The device that published it; absent for a non-device publisher. */
    device: z.string().optional(),
    qos: z.number().int().min(0).max(2),
    /** When the edge broker received it, and when it landed in the center (ISO 8601). */
    at: z.string(),
    receivedAt: z.string(),
    /** The payload as text when it is valid UTF-8, else base64 (see `encoding`). */
    payload: z.string(),
    encoding: z.enum(['utf8', 'base64']),
  })
  .strict();
export type SinkMessage = z.infer<typeof sinkMessageSchema>;
/** Oldest first. `next` is the `after` cursor for the following page (the last item's id, or the request's `after` when empty). */
export const sinkMessagesPageSchema = z.object({ items: z.array(sinkMessageSchema), next: z.number().int().nonnegative() }).strict();
export type SinkMessagesPage = z.infer<typeof sinkMessagesPageSchema>;

export const routeStatusSchema = z
  .object({
    /** Messages landed in the sink, and the last time one did. */
    delivered: z.number().int().nonnegative().default(0),
    lastDeliveredAt: z.string().optional(),
    /** The sink's last error, if its last attempt failed. */
    error: z.string().optional(),
  })
  .strict();

// ---- DeviceCommand (cloud -> device) ---------------------------------------------------
export const deviceCommandSpecSchema = z
  .object({
    device: nameSchema,
    /** Under the device's namespace: delivered on `devices/<device>/<topic>`. */
    topic: topicNameSchema.default('commands'),
    payload: z.union([z.string().max(65_536), z.record(z.string(), z.unknown())]),
    /** Held this long while the edge or the device is offline; then Expired. */
    ttl: durationSchema({ min: '1s', max: '7d' }).default('1h'),
  })
  .strict();
export const commandPhaseSchema = z.enum(['Pending', 'Delivered', 'Expired']);
export const deviceCommandStatusSchema = z
  .object({
    phase: commandPhaseSchema.default('Pending'),
    /** The device's site, copied at creation (where the command is held). */
    site: nameSchema.optional(),
    node: nameSchema.optional(),
    deliveredAt: z.string().optional(),
    message: z.string().optional(),
  })
  .strict();
