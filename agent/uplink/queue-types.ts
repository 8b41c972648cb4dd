/** What goes into the uplink queue and what it tells (see uplink-queue.ts). */

export interface RouteKey {
  project: string;
  route: string;
}
/**
 * Where a device's QoS 1/2 publish came from: its connection (the
 * canonical client id) and packet id, and a hash of its topic and payload.
 * Recorded with the message, in the same transaction, so that a resend of
 * it (the device never saw the acknowledgement) is recognised even after a
 * crash and after the message itself has gone up.
 */
export interface PublishOrigin {
  client: string;
  packetId: number;
  hash: Buffer;
}
export interface UplinkAppend extends RouteKey {
  topic: string;
  /** The publishing device's name within the project, if a device published it. */
  device?: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  origin?: PublishOrigin;
}
export interface QueuedMessage {
  seq: number;
  topic: string;
  device: string | null;
  qos: 0 | 1 | 2;
  /** Append time, ms since epoch. */
  at: number;
  /** Payload + topic bytes. */
  bytes: number;
  payload: Buffer;
}
/**
 * What append did: a number is the message's seq (queued; the common,
 * synchronous case); null means it was dropped (overflow: drop-newest); a
 * promise means the queue is full and overflow is block: it resolves with
 * the seq once acks make room (hold the publisher until then).
 */
export type AppendResult = number | null | Promise<number>;

export interface UplinkQueueStats {
  enqueued: number;
  /** Acknowledged by the center (in the sink). */
  delivered: number;
  droppedOverflow: number;
  droppedExpired: number;
  droppedRouteGone: number;
  depthMessages: number;
  /** Payload + topic bytes held. */
  depthBytes: number;
  oldestAgeMs: number;
  /** The most messages held at once since the agent started (an outage's backlog, seen after the fact), and when (ms since epoch; 0: never). */
  peakDepthMessages: number;
  peakDepthAt: number;
  /** Appends waiting for room (overflow: block). */
  blocked: number;
  /** Resends of a publish already queued (isResend): acknowledged again, not queued twice. */
  resends: number;
}
