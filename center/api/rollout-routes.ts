import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ConflictError, DEFAULT_PROJECT, NotFoundError, nowIso, parseOrThrow, ValidationError, type Service } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import { recordEvent } from '../events.ts';
import { describeRevision } from '../controllers/revisions.ts';
import { jsonBody } from './auth-routes.ts';
import { ADMIN_OR_USER, assertProject } from '../auth/access.ts';
import type { TokenRecord } from '../store/store.ts';

export const rolloutQuerySchema = z.object({ project: z.string().default(DEFAULT_PROJECT) });
export const undoRequestSchema = z.object({ toRevision: z.number().int().min(1).optional() }).strict();

/**
 * Rollout actions on a service (`gedge rollout undo|pause|resume`). They edit
 * the service's spec, as an apply would, and the service controller does the
 * rest; the rollout's state is in the service's status.
 */
export function registerRolloutRoutes(app: FastifyInstance, store: Store): void {
  app.post('/api/v1/services/:name/rollout/undo', { config: { auth: ADMIN_OR_USER } }, async (req) => {
    const { service, who } = await load(store, req.params, req.query, req.token);
    const body = parseOrThrow(undoRequestSchema, typeof req.body === 'string' && req.body.trim() ? await jsonBody(req.body) : {}, 'undo request');
    const history = service.status?.revisions ?? [];
    const current = service.status?.revision;
    const target = body.toRevision !== undefined ? history.find((r) => r.revision === body.toRevision) : history.filter((r) => r.revision !== current).at(-1);
    if (!target) {
      const known = history.map((r) => r.revision).join(', ') || 'none';
      throw new ValidationError(body.toRevision !== undefined ? `revision ${body.toRevision} is not in the history` : 'no earlier revision to go back to', {
        details: [{ path: 'toRevision', message: `known revisions: ${known}` }],
      });
    }
    if (target.revision === current) throw new ConflictError(`revision ${target.revision} is already the current one`, { details: [{ path: 'toRevision', message: 'nothing to undo' }] });
    const updated = await store.update({ ...service, spec: { ...service.spec, template: target.template, placement: target.placement } } as Service, { expectRevision: service.metadata.revision });
    await event(store, service, 'RolloutUndo', `${who} went back to revision ${target.revision} (${describeRevision(target)})`);
    return updated;
  });

  for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
    app.post(`/api/v1/services/:name/rollout/${action}`, { config: { auth: ADMIN_OR_USER } }, async (req) => {
      const { service } = await load(store, req.params, req.query, req.token);
      if (service.spec.rollout.paused === paused) return service;
      return store.update({ ...service, spec: { ...service.spec, rollout: { ...service.spec.rollout, paused } } } as Service, { expectRevision: service.metadata.revision });
    });
  }
}

async function load(store: Store, params: unknown, query: unknown, token: TokenRecord | undefined): Promise<{ service: Service; who: string }> {
  const { project } = parseOrThrow(rolloutQuerySchema, query, 'query', 'query');
  // Before the lookup: a token learns nothing about other projects.
  assertProject(token, project);
  const name = (params as { name: string }).name;
  const service = await store.get('Service', project, name);
  if (!service) throw new NotFoundError(`Service "${name}" not found`, { details: [{ path: 'name', message: 'not found' }] });
  return { service, who: `token ${token?.id ?? 'unknown'} (${token?.kind ?? 'unknown'}${token?.description ? `, ${token.description}` : ''})` };
}

function event(store: Store, s: Service, reason: string, message: string): Promise<void> {
  return recordEvent(store, { involved: { kind: 'Service', name: s.metadata.name, project: s.metadata.project }, reason, message, type: 'Normal', at: nowIso(), source: 'center' });
}
