import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { BadRequestError, DEFAULT_PROJECT, NotFoundError, ValidationError, lookupKind, parseOrThrow, parseSelector, type EgressPolicy, type KindInfo, type Resource, projectOf } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import { streamWatch } from './watch.ts';
import { admit } from './admission.ts';
import { manifests } from './manifest-parser.ts';
import { ADMIN_OR_USER, assertMayWrite, assertProject, mayRead } from '../auth/access.ts';

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
 * CRUD, apply, list and watch for every kind, under /api/v1/{plural}. User
 * tokens reach only their projects (center/auth/access.ts), checked before
 * anything is looked up.
 */
/**
 * Where the next page starts, opaque to clients: the (project, name) of the
 * last object of this page. Pages are read as the store is then (each has
 * its revision), not from one snapshot: a client that needs one view lists
 * and watches from the first page's revision.
 */
function encodeContinue(at: { project: string; name: string }): string {
  return Buffer.from(JSON.stringify([at.project, at.name])).toString('base64url');
}

function decodeContinue(token: string): { project: string; name: string } {
  let at: unknown;
  try {
    at = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    at = undefined;
  }
  if (!Array.isArray(at) || at.length !== 2 || typeof at[0] !== 'string' || typeof at[1] !== 'string') {
    throw new ValidationError('continue is not a token this center gave', { details: [{ path: 'query.continue', message: 'not a continue token from a previous page' }] });
  }
  return { project: at[0], name: at[1] };
}

export function registerResourceRoutes(app: FastifyInstance, store: Store, egress: EgressPolicy): void {
  const auth = { config: { auth: ADMIN_OR_USER } };
  app.post('/api/v1/apply', auth, async (req) => {
    const q = parseOrThrow(applyQuerySchema, req.query, 'query', 'query');
    const parsed = await manifests.resources(bodyText(req));
    assertMayWrite(req.token, parsed);
    const objs = await admit(store, parsed, egress);
    if (q.dryRun === 'true') return { dryRun: true, items: await Promise.all(objs.map((o) => dryRunItem(store, o))) };
    const results = await store.apply(objs);
    return { items: results.map((r) => ({ action: r.action, kind: r.object.kind, name: r.object.metadata.name, project: r.object.metadata.project, revision: r.object.metadata.revision })) };
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
    await streamWatch(store, req, reply, { kinds, project: q.project, selector, since: q.since, visible: (o) => mayRead(req.token, o) });
    return reply;
  });

  app.get('/api/v1/:plural', auth, async (req, reply) => {
    const info = kindOf(req);
    const q = parseOrThrow(listQuerySchema, req.query, 'query', 'query');
    const selector = parseSelector(q.labelSelector ?? '');
    const project = info.namespaced ? q.project : undefined;
    if (project !== undefined) assertProject(req.token, project);
    const visible = (o: Resource) => mayRead(req.token, o);
    if (q.watch === 'true') {
      await streamWatch(store, req, reply, { kinds: new Set([info.kind]), project, selector, since: q.since, visible });
      return reply;
    }
    if (q.continue !== undefined && q.limit === undefined) throw new ValidationError('continue needs limit', { details: [{ path: 'query.limit', message: 'required with continue' }] });
    const after = q.continue === undefined ? undefined : decodeContinue(q.continue);
    const { items, revision } = await store.list(info.kind, { project, selector, limit: q.limit, after });
    // A full page may have more behind it (selectors and access filter pages after the limit: a page may hold fewer).
    const last = q.limit !== undefined && items.length === q.limit ? items.at(-1) : undefined;
    const next = last ? { continue: encodeContinue({ project: last.metadata.project ?? '', name: last.metadata.name }) } : {};
    return { apiVersion: 'gedge.io/v1', kind: 'List', revision, ...next, items: items.filter(visible) };
  });

  app.post('/api/v1/:plural', auth, async (req, reply) => {
    const info = kindOf(req);
    const obj = await singleOf(store, req, info, egress);
    const created = await store.create(obj);
    return reply.status(201).send(created);
  });

  app.get('/api/v1/:plural/:name', auth, async (req) => {
    const info = kindOf(req);
    const q = parseOrThrow(objectQuerySchema, req.query, 'query', 'query');
    const name = (req.params as { name: string }).name;
    const project = projectFor(info, q.project);
    if (project !== undefined) assertProject(req.token, project);
    const obj = await store.get(info.kind, project, name);
    if (!obj || !mayRead(req.token, obj)) throw new NotFoundError(`${info.kind} "${name}" not found`, { details: [{ path: 'name', message: 'not found' }] });
    return obj;
  });

  app.put('/api/v1/:plural/:name', auth, async (req) => {
    const info = kindOf(req);
    const obj = await singleOf(store, req, info, egress);
    const name = (req.params as { name: string }).name;
    if (obj.metadata.name !== name) {
      throw new ValidationError('metadata.name does not match the URL', { details: [{ path: 'metadata.name', message: `expected "${name}"` }] });
    }
    const [result] = await store.apply([obj]);
    return { action: result!.action, object: result!.object };
  });

  app.delete('/api/v1/:plural/:name', auth, async (req) => {
    const info = kindOf(req);
    const q = parseOrThrow(objectQuerySchema, req.query, 'query', 'query');
    const name = (req.params as { name: string }).name;
    assertMayWrite(req.token, [{ kind: info.kind, metadata: { name, project: projectFor(info, q.project) } } as Resource]);
    return store.delete(info.kind, projectFor(info, q.project), name, { expectRevision: q.revision });
  });
}

/** What apply would do with one object, without writing: create it, change it, or leave it as it is. */
async function dryRunItem(store: Store, o: Resource) {
  const project = lookupKind(o.kind)?.namespaced ? projectOf(o) : undefined;
  const cur = await store.get(o.kind, project, o.metadata.name);
  const same = cur && JSON.stringify(cur.spec) === JSON.stringify(o.spec) && JSON.stringify(cur.metadata.labels ?? {}) === JSON.stringify(o.metadata.labels ?? {});
  const action = !cur ? 'created' : same ? 'unchanged' : 'configured';
  return { action, kind: o.kind, name: o.metadata.name, project };
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

async function singleOf(store: Store, req: FastifyRequest, info: KindInfo, egress: EgressPolicy): Promise<Resource> {
  const obj = await manifests.single(bodyText(req));
  if (obj!.kind !== info.kind) {
    throw new ValidationError(`expected kind ${info.kind}`, { details: [{ path: 'kind', message: `"${obj!.kind}" does not match /${info.plural}` }] });
  }
  assertMayWrite(req.token, [obj!]);
  const [checked] = await admit(store, [obj!], egress);
  return checked!;
}
