import { z } from 'zod';
import { nameSchema } from './schema-base.ts';

/**
 * The uplink wire format, edge -> cloud: `POST /api/v1/uplink` with the node's
 * bearer credential, `Content-Type: application/json`, `Content-Encoding:
 * gzip`. One batch carries messages of one route, in queue order. `seq` is
 * the edge queue's sequence number: strictly increasing per node, across
 * routes and restarts.
 *
 * The center applies a batch idempotently: messages with `seq` at or below
 * the (node, route) progress it has recorded are skipped, the rest go to the
 * route's sink, and the progress moves in the same step (in the same
 * transaction for the table sink). It answers with that progress; the edge
 * drops everything of that route up to it. A lost answer means the edge sends
 * the batch again, and the center skips it: each message lands once.
 */
export const UPLINK_PATH = '/api/v1/uplink';

export const uplinkMessageSchema = z
  .object({
    seq: z.number().int().positive(),
    topic: z.string().min(1).max(512),
    /** The device that published it (its name within the project); absent for a non-device publisher. */
    device: nameSchema.optional(),
    /** The payload bytes, base64. */
    payload: z.string(),
    qos: z.union([z.literal(0), z.literal(1), z.literal(2)]),
    /** When the edge broker received it (ISO 8601). */
    at: z.string(),
  })
  .strict();
export type UplinkMessage = z.infer<typeof uplinkMessageSchema>;

export const uplinkBatchSchema = z
  .object({
    node: nameSchema,
    project: nameSchema,
    route: nameSchema,
    messages: z.array(uplinkMessageSchema).min(1).max(10_000),
  })
  .strict();
export type UplinkBatch = z.infer<typeof uplinkBatchSchema>;

export const uplinkAckSchema = z
  .object({
    /** Everything of this (node, route) up to here is in the sink. */
    ackedSeq: z.number().int().nonnegative(),
    /** Messages dropped, not landed, because they name a device that is not the node's site's (deleted since, or never there); acknowledged with the rest. */
    refused: z.number().int().positive().optional(),
  })
  .strict();
export type UplinkAck = z.infer<typeof uplinkAckSchema>;

const count = z.number().int().nonnegative();
/**
 * An edge's uplink queue as the agent reports it in its heartbeat (Node
 * status.uplink): the configured bounds and policy, and counters since the
 * agent started (depth and age are current).
 */
export const edgeUplinkStatusSchema = z
  .object({
    fsync: z.enum(['always', 'batch', 'off']),
    overflow: z.enum(['drop-oldest', 'drop-newest', 'block']),
    maxBytes: count,
    maxMessages: count,
    ttlMs: count,
    enqueued: count,
    delivered: count,
    droppedOverflow: count,
    droppedExpired: count,
    droppedRouteGone: count,
    resends: count,
    depthMessages: count,
    depthBytes: count,
    oldestAgeMs: count,
    /** The most messages held at once since the agent started, and when (ms since epoch; 0: never). */
    peakDepthMessages: count,
    peakDepthAt: count,
    blocked: count,
  })
  .strict();
export type EdgeUplinkStatus = z.infer<typeof edgeUplinkStatusSchema>;
