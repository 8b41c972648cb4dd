import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { BadRequestError, NotFoundError, ValidationError, lookupKind, parseOrThrow, parseSelector, type KindInfo } from '../../core/index.ts';
import { streamWatch } from './watch.ts';
import type { Objects } from '../services/objects.ts';
import type { Watches } from '../services/watches.ts';
import { ADMIN_OR_USER, assertProject, mayRead } from '../auth/access.ts';

/** The most objects one page of a list may ask for. */
export const MAX_PAGE = 10_000;
export const listQuerySchema = z.object({
  project: z.string().optional(),
  labelSelector: z.string().optional(),
  watch: z.enum(['true', 'false']).optional(),
  since: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).optional(),
  continue: z.string().optional(),
});
export const watchQuerySchema = z.object({
  kinds: z.string().min(1),
  project: z.string().optional(),
  labelSelector: z.string().optional(),
  since: z.coerce.number().int().nonnegative().optional(),
});
export const applyQuerySchema = z.object({ dryRun: z.enum(['true', 'false']).optional() });
export const objectQuerySchema = z.object({ project: z.string().optional(), revision: z.coerce.number().int().nonnegative().optional() });

/**
 * CRUD, apply, list and watch for every kind, under /api/v1/{plural}: the
 * request parsed, the caller's token passed to center/services/objects.ts.
 * User tokens reach only their projects (center/auth/access.ts), checked
 * before anything is looked up.
 */
export function registerResourceRoutes(app: FastifyInstance, services: { objects: Objects; watches: Watches }): void {
  const { objects, watches } = services;
  const auth = { config: { auth: ADMIN_OR_USER } };
  const name = (req: FastifyRequest) => (req.params as { name: string }).name;

  app.post('/api/v1/apply', auth, async (req) => {
    const q = parseOrThrow(applyQuerySchema, req.query, 'query', 'query');
    return objects.apply(req.token, bodyText(req), { dryRun: q.dryRun === 'true' });
  });

  // One stream for several kinds: a browser keeps at most six connections per host, so the dashboard watches everything through one.
  app.get('/api/v1/watch', auth, async (req, reply) => {
    const q = parseOrThrow(watchQuerySchema, req.query, 'query', 'query');
    const kinds = new Set<string>();
    for (const [i, name] of q.kinds.split(',').entries()) {
      const info = lookupKind(name.trim());
      if (!info) throw new ValidationError(`unknown resource type "${name}"`, { details: [{ path: `query.kinds[${i}]`, message: 'unknown kind' }] });
      kinds.add(info.kind);
    }
    if (q.project !== undefined) assertProject(req.token, q.project);
    const selector = parseSelector(q.labelSelector ?? '');
    await streamWatch(watches, req, reply, { kinds, project: q.project, selector, since: q.since, visible: (o) => mayRead(req.token, o) });
    return reply;
  });

  app.get('/api/v1/:plural', auth, async (req, reply) => {
    const info = kindOf(req);
    const q = parseOrThrow(listQuerySchema, req.query, 'query', 'query');
    const selector = parseSelector(q.labelSelector ?? '');
    if (q.watch === 'true') {
      const project = info.namespaced ? q.project : undefined;
      if (project !== undefined) assertProject(req.token, project);
      await streamWatch(watches, req, reply, { kinds: new Set([info.kind]), project, selector, since: q.since, visible: (o) => mayRead(req.token, o) });
      return reply;
    }
    return objects.list(req.token, info, { project: q.project, selector, limit: q.limit, continue: q.continue });
  });

  app.post('/api/v1/:plural', auth, async (req, reply) => reply.status(201).send(await objects.create(req.token, kindOf(req), bodyText(req))));

  app.get('/api/v1/:plural/:name', auth, async (req) => {
    const info = kindOf(req);
    const q = parseOrThrow(objectQuerySchema, req.query, 'query', 'query');
    return objects.get(req.token, info, q.project, name(req));
  });

  app.put('/api/v1/:plural/:name', auth, async (req) => objects.replace(req.token, kindOf(req), name(req), bodyText(req)));

  app.delete('/api/v1/:plural/:name', auth, async (req) => {
    const info = kindOf(req);
    const q = parseOrThrow(objectQuerySchema, req.query, 'query', 'query');
    return objects.delete(req.token, info, q.project, name(req), q.revision);
  });
}

function kindOf(req: FastifyRequest): KindInfo {
  const plural = (req.params as { plural: string }).plural;
  const info = lookupKind(plural);
  if (!info || info.plural !== plural) {
    throw new NotFoundError(`unknown resource type "${plural}"`, { details: [{ path: 'kind', message: `unknown; try one of: projects, sites, nodes, services, instances, events` }] });
  }
  return info;
}

export function bodyText(req: FastifyRequest): string {
  if (typeof req.body === 'string') return req.body;
  throw new BadRequestError('request body is required', { details: [{ path: 'body', message: 'empty' }] });
}
