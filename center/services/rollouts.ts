import { ConflictError, NotFoundError, nowIso, ValidationError, type Resource, type Service } from '../../core/index.ts';
import type { Store, TokenRecord } from '../store/store.ts';
import { recordEvent } from '../events.ts';
import { describeRevision } from '../controllers/revisions.ts';
import { assertProject } from '../auth/access.ts';

/**
 * Rollout actions on a service (`gedge rollout undo|pause|resume`), for a
 * caller's token and apart from any transport (center/api/rollout-routes.ts
 * adapts them to HTTP). They edit the service's spec, as an apply would, and
 * the service controller does the rest; the rollout's state is in the
 * service's status.
 */
export class Rollouts {
  constructor(private readonly store: Store) {}

  /**
   * Back to revision `toRevision` of the service's history, or to the newest
   * one before the current. Refused (changing nothing) when the history has
   * no such revision, or it is the current one.
   */
  async undo(caller: TokenRecord | undefined, project: string, name: string, toRevision?: number): Promise<Resource> {
    const service = await this.load(caller, project, name);
    const history = service.status?.revisions ?? [];
    const current = service.status?.revision;
    const target = toRevision !== undefined ? history.find((r) => r.revision === toRevision) : history.filter((r) => r.revision !== current).at(-1);
    if (!target) {
      const known = history.map((r) => r.revision).join(', ') || 'none';
      throw new ValidationError(toRevision !== undefined ? `revision ${toRevision} is not in the history` : 'no earlier revision to go back to', {
        details: [{ path: 'toRevision', message: `known revisions: ${known}` }],
      });
    }
    if (target.revision === current) throw new ConflictError(`revision ${target.revision} is already the current one`, { details: [{ path: 'toRevision', message: 'nothing to undo' }] });
    const updated = await this.store.update({ ...service, spec: { ...service.spec, template: target.template, placement: target.placement } } as Service, { expectRevision: service.metadata.revision });
    await recordEvent(this.store, { involved: { kind: 'Service', name, project }, reason: 'RolloutUndo', message: `${who(caller)} went back to revision ${target.revision} (${describeRevision(target)})`, type: 'Normal', at: nowIso(), source: 'center' });
    return updated;
  }

  /** Pauses or resumes the service's rollout (nothing more is replaced while paused). */
  async setPaused(caller: TokenRecord | undefined, project: string, name: string, paused: boolean): Promise<Resource> {
    const service = await this.load(caller, project, name);
    if (service.spec.rollout.paused === paused) return service;
    return this.store.update({ ...service, spec: { ...service.spec, rollout: { ...service.spec.rollout, paused } } } as Service, { expectRevision: service.metadata.revision });
  }

  private async load(caller: TokenRecord | undefined, project: string, name: string): Promise<Service> {
    // Before the lookup: a token learns nothing about other projects.
    assertProject(caller, project);
    const service = await this.store.get('Service', project, name);
    if (!service) throw new NotFoundError(`Service "${name}" not found`, { details: [{ path: 'name', message: 'not found' }] });
    return service;
  }
}

/** How an event names the caller: the token's id, kind and description, never the secret. */
function who(t: TokenRecord | undefined): string {
  return `token ${t?.id ?? 'unknown'} (${t?.kind ?? 'unknown'}${t?.description ? `, ${t.description}` : ''})`;
}
