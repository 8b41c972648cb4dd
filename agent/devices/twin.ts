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
 */
export const twinTopics = (device: string) => ({
  desired: `devices/${device}/twin/desired`,
  ack: `devices/${device}/twin/ack`,
  reported: `devices/${device}/twin/reported`,
});

/** `devices/<name>/twin/<leaf>` -> [name, leaf]; undefined for any other topic. */
export function twinTopicOf(topic: string): { device: string; leaf: 'ack' | 'reported' } | undefined {
  if (!topic.startsWith('devices/')) return undefined;
  const parts = topic.split('/');
  if (parts.length !== 4 || parts[2] !== 'twin' || (parts[3] !== 'ack' && parts[3] !== 'reported')) return undefined;
  return { device: parts[1]!, leaf: parts[3] };
}

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

/** The version in an ack, or undefined when the payload is not `{"version": <int>}`. */
export function ackVersion(payload: Buffer): number | undefined {
  try {
    const v = (JSON.parse(payload.toString('utf8')) as { version?: unknown }).version;
    return Number.isInteger(v) && (v as number) >= 0 ? (v as number) : undefined;
  } catch {
    return undefined;
  }
}
