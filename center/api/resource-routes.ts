import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  BadRequestError,
  DEFAULT_PROJECT,
  NotFoundError,
  ValidationError,
  lookupKind,
  parseManifestText,
  parseOrThrow,
  parseSelector,
  validateResources,
  type KindInfo,
  type Resource,
} from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import { streamWatch } from './watch.ts';
import { admit } from './admission.ts';
import { ADMIN_OR_USER, assertMayWrite, assertProject, mayRead } from '../auth/access.ts';

const listQuery = z.object({
  project: z.string().optional(),
  labelSelector: z.string().optional(),
  watch: z.enum(['true', 'false']).optional(),
  since: z.coerce.number().int().nonnegative().optional(),
});
const objectQuery = z.object({ project: z.string().optional(), revision: z.coerce.number().int().nonnegative().optional() });

/**
 * CRUD, apply, list and watch for every kind, under /api/v1/{plural}. User
 * tokens reach only their projects (center/auth/access.ts), checked before
 * anything is looked up.
 */
export function registerResourceRoutes(app: FastifyInstance, store: Store): void {
  const auth = { config: { auth: ADMIN_OR_USER } };
  app.post('/api/v1/apply', auth, async (req) => {
    const parsed = validateResources(parseManifestText(bodyText(req), 'body'));
    assertMayWrite(req.token, parsed);
    const objs = await admit(store, parsed);
    const results = await store.apply(objs);
    return { items: results.map((r) => ({ action: r.action, kind: r.object.kind, name: r.object.metadata.name, project: r.object.metadata.project, revision: r.object.metadata.revision })) };
  });

  app.get('/api/v1/:plural', auth, async (req, reply) => {
    const info = kindOf(req);
    const q = parseOrThrow(listQuery, req.query, 'query', 'query');
    const selector = parseSelector(q.labelSelector ?? '');
    const project = info.namespaced ? q.project : undefined;
    if (project !== undefined) assertProject(req.token, project);
    const visible = (o: Resource) => mayRead(req.token, o);
    if (q.watch === 'true') {
      await streamWatch(store, req, reply, { kind: info.kind, project, selector, since: q.since, visible });
      return reply;
    }
    const { items, revision } = await store.list(info.kind, { project, selector });
    return { apiVersion: 'gedge.io/v1', kind: 'List', revision, items: items.filter(visible) };
  });

  app.post('/api/v1/:plural', auth, async (req, reply) => {
    const info = kindOf(req);
    const obj = await singleOf(store, req, info);
    const created = await store.create(obj);
    return reply.status(201).send(created);
  });

  app.get('/api/v1/:plural/:name', auth, async (req) => {
    const info = kindOf(req);
    const q = parseOrThrow(objectQuery, req.query, 'query', 'query');
    const name = (req.params as { name: string }).name;
    const project = projectFor(info, q.project);
    if (project !== undefined) assertProject(req.token, project);
    const obj = await store.get(info.kind, project, name);
    if (!obj || !mayRead(req.token, obj)) throw new NotFoundError(`${info.kind} "${name}" not found`, { details: [{ path: 'name', message: 'not found' }] });
    return obj;
  });

  app.put('/api/v1/:plural/:name', auth, async (req) => {
    const info = kindOf(req);
    const obj = await singleOf(store, req, info);
    const name = (req.params as { name: string }).name;
    if (obj.metadata.name !== name) {
      throw new ValidationError('metadata.name does not match the URL', { details: [{ path: 'metadata.name', message: `expected "${name}"` }] });
    }
    const [result] = await store.apply([obj]);
    return { action: result!.action, object: result!.object };
  });

  app.delete('/api/v1/:plural/:name', auth, async (req) => {
    const info = kindOf(req);
    const q = parseOrThrow(objectQuery, req.query, 'query', 'query');
    const name = (req.params as { name: string }).name;
    assertMayWrite(req.token, [{ kind: info.kind, metadata: { name, project: projectFor(info, q.project) } } as Resource]);
    return store.delete(info.kind, projectFor(info, q.project), name, { expectRevision: q.revision });
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

function projectFor(info: KindInfo, project: string | undefined): string | undefined {
  return info.namespaced ? (project ?? DEFAULT_PROJECT) : undefined;
}

export function bodyText(req: FastifyRequest): string {
  if (typeof req.body === 'string') return req.body;
  throw new BadRequestError('request body is required', { details: [{ path: 'body', message: 'empty' }] });
}

async function singleOf(store: Store, req: FastifyRequest, info: KindInfo): Promise<Resource> {
  const docs = parseManifestText(bodyText(req), 'body');
  if (docs.length !== 1) throw new BadRequestError('expected exactly one object', { details: [{ path: 'body', message: `got ${docs.length}` }] });
  const [obj] = validateResources(docs);
  if (obj!.kind !== info.kind) {
    throw new ValidationError(`expected kind ${info.kind}`, { details: [{ path: 'kind', message: `"${obj!.kind}" does not match /${info.plural}` }] });
  }
  assertMayWrite(req.token, [obj!]);
  const [checked] = await admit(store, [obj!]);
  return checked!;
}
