import type { CenterMessage, Instance } from '../../core/index.ts';
import type { Change, Store } from '../store/store.ts';
import { changesAfter } from '../store/change-feed.ts';

/**
 * What a node's agent must receive: creations, spec changes and deletions of
 * the instances bound to it. Status-only writes are the agent's own reports
 * and are never echoed back.
 */
export function isForNode(c: Change, node: string): boolean {
  return c.object.kind === 'Instance' && !c.statusOnly && (c.object as Instance).spec.node === node;
}

export function toMessage(c: Change): CenterMessage {
  return { t: 'change', revision: c.revision, op: c.type === 'DELETED' ? 'delete' : 'put', instance: forAgent(c.object as Instance) };
}

/** The scheduler's explanation is for people, not for the agent: it stays in the center. */
function forAgent(i: Instance): Instance {
  if (!i.status?.scheduling) return i;
  const { scheduling: _, ...status } = i.status;
  return { ...i, status };
}

/**
 * The catch-up for an agent that last applied `since`: only the changes after
 * it when the change log still has them, else a full snapshot. Ends with a
 * `synced` marker at the revision read up to.
 */
export async function catchUp(store: Store, node: string, since: number): Promise<{ mode: 'delta' | 'snapshot'; messages: CenterMessage[]; upTo: number }> {
  // Older than the compaction point, or newer than anything here (the center's
  // store was replaced): only a full snapshot is trustworthy.
  if (since < (await store.compactedRevision()) || since > (await store.currentRevision())) {
    const { items, revision } = await store.list('Instance');
    const mine = (items as Instance[]).filter((i) => i.spec.node === node).map(forAgent);
    return { mode: 'snapshot', messages: [{ t: 'snapshot', revision, instances: mine }, { t: 'synced', revision }], upTo: revision };
  }
  const messages: CenterMessage[] = [];
  let upTo = since;
  for await (const c of changesAfter(store, since)) {
    if (isForNode(c, node)) messages.push(toMessage(c));
    upTo = c.revision;
  }
  messages.push({ t: 'synced', revision: upTo });
  return { mode: 'delta', messages, upTo };
}
