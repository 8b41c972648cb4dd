import { z } from 'zod';
import { nameSchema } from './schema-base.ts';

/**
 * A roaming device's MQTT session on its way between two edge brokers, and
 * the messages one broker forwards to the device's session at another
 * (docs/broker.md, "Roaming"). Topics are the project's own (without the
 * broker's project mount); payloads are base64.
 */

/** Subscriptions a session carries at most. */
export const ROAM_SUBSCRIPTIONS_MAX = 1000;
/** Queued messages a session carries at most: the newest are kept, the rest counted as dropped. */
export const ROAM_QUEUED_MAX = 1000;
/** A message's payload bytes (before base64) at most, for it to travel. */
export const ROAM_PAYLOAD_BYTES_MAX = 2 * 1024 * 1024;
/** A topic or filter's length at most, for it to travel. */
export const ROAM_TOPIC_MAX = 1024;
/**
 * Bytes of a session (topics, and payloads as base64), or of one forward, at most: the channel takes 4 MiB
 * messages, and a topic of multi-byte characters is longer in bytes than in characters.
 */
export const ROAM_SESSION_BYTES_MAX = 3 * 1024 * 1024;
/** Messages in one forward at most. */
export const ROAM_FORWARD_MAX = 100;
/** Times a forwarded message may be forwarded again (the session moved on meanwhile) before it is dropped. */
export const ROAM_HOPS_MAX = 3;

const qos = z.union([z.literal(0), z.literal(1), z.literal(2)]);
const b64Max = Math.ceil(ROAM_PAYLOAD_BYTES_MAX / 3) * 4;

export const roamedMessageSchema = z
  .object({
    topic: z.string().min(1).max(ROAM_TOPIC_MAX),
    payload: z.string().max(b64Max),
    qos,
  })
  .strict();
export type RoamedMessage = z.infer<typeof roamedMessageSchema>;

export const roamedSubscriptionSchema = z
  .object({
    topic: z.string().min(1).max(ROAM_TOPIC_MAX),
    qos,
    /** MQTT 5 retain handling, retain as published, no local. */
    rh: z.number().int().min(0).max(2).optional(),
    rap: z.boolean().optional(),
    nl: z.boolean().optional(),
  })
  .strict();
export type RoamedSubscription = z.infer<typeof roamedSubscriptionSchema>;

export const roamedSessionSchema = z
  .object({
    subscriptions: z.array(roamedSubscriptionSchema).max(ROAM_SUBSCRIPTIONS_MAX),
    /** QoS 1 and 2 messages the device had not acknowledged, oldest first. */
    queued: z.array(roamedMessageSchema).max(ROAM_QUEUED_MAX),
    /** Queued messages left behind because the session would have been too big. */
    dropped: z.number().int().nonnegative(),
  })
  .strict();
export type RoamedSession = z.infer<typeof roamedSessionSchema>;

export const roamForwardSchema = z
  .object({
    project: nameSchema,
    device: nameSchema,
    hops: z.number().int().min(0).max(ROAM_HOPS_MAX),
    messages: z.array(roamedMessageSchema).min(1).max(ROAM_FORWARD_MAX),
  })
  .strict();
