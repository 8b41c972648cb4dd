import type { ApiClient } from '../../core/index.ts';

export interface HandoverCounts {
  in: number;
  ahead: number;
}

/**
 * Whether a hand-over was predicted (the session copied to the new node
 * before the vehicle came), as that node counts it:
 * `gedge_session_handovers_total{direction="in",ahead}` in its metrics,
 * read through the center before and after the vehicle's first request
 * there. The counters are the node's, not the vehicle's: a hand-over is
 * attributed only when the counts say so without doubt.
 */
export async function handoverCounts(api: ApiClient, node: string): Promise<HandoverCounts | undefined> {
  try {
    const res = await api.raw('GET', `/api/v1/nodes/${encodeURIComponent(node)}/metrics`);
    if (res.status !== 200) return undefined;
    const text = await res.text();
    const read = (ahead: string) => Number(new RegExp(`^gedge_session_handovers_total\\{direction="in",ahead="${ahead}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    const ahead = read('true');
    return { in: ahead + read('false'), ahead };
  } catch {
    return undefined;
  }
}

/** true: copied ahead; false: pulled when the vehicle came; null: the counts cannot tell (none, or others' in between). */
export function wasPredicted(before: HandoverCounts | undefined, after: HandoverCounts | undefined): boolean | null {
  if (!before || !after) return null;
  const dIn = after.in - before.in;
  const dAhead = after.ahead - before.ahead;
  if (dIn <= 0) return null;
  if (dAhead === dIn) return true;
  if (dAhead === 0) return false;
  return null;
}
