import type { Device } from '../../core/index.ts';
import { isTwinRequest, type TwinRequest } from '../../core/topics.ts';

/**
 * Device twins at the edge. Topics, under the device's own namespace:
 *
 * - `devices/<name>/twin/desired` (edge -> device, retained, QoS 1):
 *   `{"version": V, "desired": {...}}`, V the Device's generation. Retained,
 *   so a device that was offline (or an edge that restarted) gets the latest
 *   on subscribe; intermediate versions collapse into the latest.
 * - `devices/<name>/twin/ack` (device -> edge): `{"version": V}` once the
 *   device applied desired version V.
 * - `devices/<name>/twin/reported` (device -> edge): a JSON object merged
 *   into the reported document (a key set to null is removed). The edge
 *   stamps each accepted report with a version that only grows (the later
 *   of the previous version + 1 and the edge's clock in ms), and the center
 *   keeps a report only if its version is newer than the one it has: an edge
 *   that comes back with old news cannot roll the twin back, and of two
 *   edges of one site the latest report wins.
 * - `devices/<name>/twin/get` (device -> edge, any payload): the edge answers
 *   on `twin/get/accepted` with the whole twin: desired and its version,
 *   reported and its version, the version the device acknowledged, and the
 *   delta.
 * - `devices/<name>/twin/delta` (edge -> device, QoS 1): `{"version": V,
 *   "delta": {...}}`, the desired keys whose value the reported document
 *   does not have yet, published with each desired version that has one.
 * - Each request (`get`, `reported`, `ack`) is answered on
 *   `twin/<request>/accepted` or `twin/<request>/rejected` (`{"code": 400,
 *   "message"}`), as AWS IoT's shadows and Azure's twins answer theirs.
 * Only the edge writes `desired`, `delta` and the answers: a device may
 * publish under `twin/` only its three requests (broker/session.ts).
 */
export const twinTopics = (device: string) => ({
  desired: `devices/${device}/twin/desired`,
  delta: `devices/${device}/twin/delta`,
  answer: (request: TwinRequest, accepted: boolean) => `devices/${device}/twin/${request}/${accepted ? 'accepted' : 'rejected'}`,
});

/** `devices/<name>/twin/<request>` -> its device and request; undefined for any other topic. */
export function twinTopicOf(topic: string): { device: string; leaf: TwinRequest } | undefined {
  if (!topic.startsWith('devices/')) return undefined;
  const parts = topic.split('/');
  if (parts.length !== 4 || parts[2] !== 'twin' || !isTwinRequest(parts[3]!)) return undefined;
  return { device: parts[1]!, leaf: parts[3] };
}

/**
 * The desired keys whose value the reported document does not have (objects
 * compared key by key, anything else as JSON); empty when the device has
 * caught up.
 */
export function twinDelta(desired: Record<string, unknown>, reported: Record<string, unknown>): Record<string, unknown> {
  const delta: Record<string, unknown> = {};
  for (const [k, want] of Object.entries(desired)) {
    const have = reported[k];
    if (isObject(want) && isObject(have)) {
      const inner = twinDelta(want, have);
      if (Object.keys(inner).length) delta[k] = inner;
    } else if (JSON.stringify(want) !== JSON.stringify(have)) delta[k] = want;
  }
  return delta;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface TwinState {
  reported: Record<string, unknown>;
  reportedVersion: number;
  desiredAckVersion: number;
}

/** Merges a reported patch: keys replaced, null removes. Throws TypeError for anything but a JSON object. */
export function mergeReported(state: TwinState, payload: Buffer, now: number): TwinState {
  const patch = JSON.parse(payload.toString('utf8')) as unknown;
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) throw new TypeError('a reported twin update is a JSON object');
  const reported = { ...state.reported };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete reported[k];
    else reported[k] = v;
  }
  return { ...state, reported, reportedVersion: Math.max(state.reportedVersion + 1, now) };
}

/** The version in an ack, or undefined when the payload is not `{"version": <int>}` (a non-negative integer). */
export function ackVersion(payload: Buffer): number | undefined {
  try {
    const v = (JSON.parse(payload.toString('utf8')) as { version?: unknown }).version;
    return Number.isInteger(v) && (v as number) >= 0 ? (v as number) : undefined;
  } catch {
    return undefined;
  }
}

/** The whole twin, as `twin/get` answers it. */
export function twinDocument(d: Device, t: TwinState): Record<string, unknown> {
  const desired = d.spec.twin.desired;
  return { version: d.metadata.generation ?? 1, desired, reported: t.reported, reportedVersion: t.reportedVersion, desiredAckVersion: t.desiredAckVersion, delta: twinDelta(desired, t.reported) };
}
