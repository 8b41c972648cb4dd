import type { Revision, Service } from '../../core/index.ts';

/** How many revisions a service keeps for `gedge rollout history` and undo. */
export const REVISION_HISTORY = 10;

/**
 * The service's revision history with its current template in it: an
 * unchanged template keeps its revision; a template seen before (an undo or a
 * rollback) keeps its number and moves to the end; a new one gets the next number.
 */
export function withCurrentRevision(service: Service, hash: string, now: string): { revisions: Revision[]; current: Revision; isNew: boolean } {
  const history = service.status?.revisions ?? [];
  const last = history.at(-1);
  if (last?.hash === hash) return { revisions: history, current: last, isNew: false };
  const seen = history.find((r) => r.hash === hash);
  const next = Math.max(0, ...history.map((r) => r.revision), service.status?.revision ?? 0) + 1;
  const current: Revision = seen ?? { revision: next, hash, template: service.spec.template, placement: service.spec.placement, createdAt: now };
  const revisions = [...history.filter((r) => r.hash !== hash), current].slice(-REVISION_HISTORY);
  return { revisions, current, isNew: !seen };
}

/** A one-line summary of what a revision runs, for events and history. */
export function describeRevision(r: Pick<Revision, 'template'>): string {
  const t = r.template;
  const what = t.runtime === 'container' ? `image ${t.image}` : t.runtime === 'model' ? `model ${t.model ?? t.artifact?.model ?? '?'}${t.split ? `, split to ${t.split.tail}` : ''}` : `command ${t.command.join(' ')}`;
  return what.length > 120 ? `${what.slice(0, 117)}...` : what;
}
