import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DEFAULT_PROJECT, nameSchema, parseOrThrow } from '../../core/index.ts';
import type { Rollouts } from '../services/rollouts.ts';
import { jsonBody } from './auth-routes.ts';
import { ADMIN_OR_USER } from '../auth/access.ts';

export const rolloutQuerySchema = z.object({ project: z.string().default(DEFAULT_PROJECT) });
export const undoRequestSchema = z.object({ toRevision: z.number().int().min(1).optional() }).strict();
const paramsSchema = z.object({ name: nameSchema });

/** `gedge rollout undo|pause|resume` over HTTP: the request parsed, the caller's token passed to the rollout actions (center/services/rollouts.ts). */
export function registerRolloutRoutes(app: FastifyInstance, rollouts: Rollouts): void {
  const target = (req: { params: unknown; query: unknown }) => ({
    name: parseOrThrow(paramsSchema, req.params, 'path').name,
    project: parseOrThrow(rolloutQuerySchema, req.query, 'query', 'query').project,
  });

  app.post('/api/v1/services/:name/rollout/undo', { config: { auth: ADMIN_OR_USER } }, async (req) => {
    const { project, name } = target(req);
    const body = parseOrThrow(undoRequestSchema, typeof req.body === 'string' && req.body.trim() ? await jsonBody(req.body) : {}, 'undo request');
    return rollouts.undo(req.token, project, name, body.toRevision);
  });

  for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
    app.post(`/api/v1/services/:name/rollout/${action}`, { config: { auth: ADMIN_OR_USER } }, async (req) => {
      const { project, name } = target(req);
      return rollouts.setPaused(req.token, project, name, paused);
    });
  }
}
