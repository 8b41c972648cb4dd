import { ConflictError, DEFAULT_PROJECT, NotFoundError, ValidationError, lookupKind, projectOf, type KindInfo, type Resource, type Selector } from '../../core/index.ts';
import type { Store, TokenRecord } from '../store/store.ts';
import { admit, type AdmissionContext } from './admission.ts';
import { manifests } from './manifest-parser.ts';
import { assertMayWrite, assertProject, mayRead } from '../auth/access.ts';

export interface ApplyItem {
  action: string;
  kind: string;
  name: string;
  project: string | undefined;
  revision?: number;
}

export interface ObjectList {
  apiVersion: 'gedge.io/v1';
  kind: 'List';
  revision: number;
  /** Where the next page starts; absent on the last page. */
  continue?: string;
  items: Resource[];
}

/**
 * Every kind's apply, create, read, replace, delete and list, for a
 * caller's token and apart from any transport (center/api/resource-routes.ts
 * adapts them to HTTP, as Node-RED's runtime API knows nothing of HTTP).
 * Manifests are parsed off the event loop and admitted (defaults, checks,
 * references) before anything is written; a token reaches only its
 * projects, checked before anything is looked up. Secrets are redacted
 * where objects leave the process (the HTTP layer's serializer), not here.
 */
export class Objects {
  constructor(
    private readonly store: Store,
    private readonly admission: AdmissionContext,
  ) {}

  /** Every document of a manifest, all or nothing; `dryRun` says what would happen and writes nothing. */
  async apply(caller: TokenRecord | undefined, text: string, o: { dryRun?: boolean } = {}): Promise<{ dryRun?: true; items: ApplyItem[] }> {
    const parsed = await manifests.resources(text);
    assertMayWrite(caller, parsed);
    const objs = await admit(this.store, parsed, this.admission);
    if (o.dryRun) return { dryRun: true, items: await Promise.all(objs.map((x) => this.dryRunItem(x))) };
    const results = await this.store.apply(objs);
    return { items: results.map((r) => ({ action: r.action, kind: r.object.kind, name: r.object.metadata.name, project: r.object.metadata.project, revision: r.object.metadata.revision })) };
  }

  /** One new object of `kind` (409 if it exists). */
  async create(caller: TokenRecord | undefined, kind: KindInfo, text: string): Promise<Resource> {
    return this.store.create(await this.single(caller, kind, text));
  }

  /** Creates or replaces the object named `name` (the document must name the same). */
  async replace(caller: TokenRecord | undefined, kind: KindInfo, name: string, text: string): Promise<{ action: string; object: Resource }> {
    const obj = await this.single(caller, kind, text);
    if (obj.metadata.name !== name) throw new ValidationError('metadata.name does not match the URL', { details: [{ path: 'metadata.name', message: `expected "${name}"` }] });
    const [result] = await this.store.apply([obj]);
    return { action: result!.action, object: result!.object };
  }

  /** One object; another project's token learns nothing, not even whether it exists. */
  async get(caller: TokenRecord | undefined, kind: KindInfo, project: string | undefined, name: string): Promise<Resource> {
    const p = projectFor(kind, project);
    if (p !== undefined) assertProject(caller, p);
    const obj = await this.store.get(kind.kind, p, name);
    if (!obj || !mayRead(caller, obj)) throw new NotFoundError(`${kind.kind} "${name}" not found`, { details: [{ path: 'name', message: 'not found' }] });
    return obj;
  }

  /**
   * One page of `kind` (every project the caller may read, or one). A full
   * page may have more behind it: selectors and access filter after the
   * limit, so a page may hold fewer. Pages are read as the store is then
   * (each has its revision), not from one snapshot: a client that needs one
   * view lists and watches from the first page's revision.
   */
  async list(caller: TokenRecord | undefined, kind: KindInfo, q: { project?: string; selector: Selector; limit?: number; continue?: string }): Promise<ObjectList> {
    const project = kind.namespaced ? q.project : undefined;
    if (project !== undefined) assertProject(caller, project);
    if (q.continue !== undefined && q.limit === undefined) throw new ValidationError('continue needs limit', { details: [{ path: 'query.limit', message: 'required with continue' }] });
    const after = q.continue === undefined ? undefined : decodeContinue(q.continue);
    const { items, revision } = await this.store.list(kind.kind, { project, selector: q.selector, limit: q.limit, after });
    const last = q.limit !== undefined && items.length === q.limit ? items.at(-1) : undefined;
    const next = last ? { continue: encodeContinue({ project: last.metadata.project ?? '', name: last.metadata.name }) } : {};
    return { apiVersion: 'gedge.io/v1', kind: 'List', revision, ...next, items: items.filter((o) => mayRead(caller, o)) };
  }

  /** Deletes the object (`revision`: only if it is still at that revision). */
  async delete(caller: TokenRecord | undefined, kind: KindInfo, project: string | undefined, name: string, revision?: number): Promise<Resource> {
    const p = projectFor(kind, project);
    assertMayWrite(caller, [{ kind: kind.kind, metadata: { name, project: p } } as Resource]);
    if (kind.kind === 'Model') await this.refuseIfServed(p!, name);
    return this.store.delete(kind.kind, p, name, { expectRevision: revision });
  }

  /** A model version a Service serves stays until no Service names it (its instances would have nothing to load). */
  private async refuseIfServed(project: string, model: string): Promise<void> {
    const users = (await this.store.list('Service', { project })).items.filter((s) => s.spec.template.runtime === 'model' && s.spec.template.model === model).map((s) => s.metadata.name);
    if (users.length) {
      throw new ConflictError(`Model "${model}" is served by ${users.map((u) => `Service "${u}"`).join(', ')}: point ${users.length > 1 ? 'them' : 'it'} at another version, or delete ${users.length > 1 ? 'them' : 'it'}, first`, { details: users.map((u) => ({ path: 'name', message: `served by Service ${u}` })) });
    }
  }

  /** What apply would do with one object, without writing: create it, change it, or leave it as it is. */
  private async dryRunItem(o: Resource): Promise<ApplyItem> {
    const project = lookupKind(o.kind)?.namespaced ? projectOf(o) : undefined;
    const cur = await this.store.get(o.kind, project, o.metadata.name);
    const same = cur && JSON.stringify(cur.spec) === JSON.stringify(o.spec) && JSON.stringify(cur.metadata.labels ?? {}) === JSON.stringify(o.metadata.labels ?? {});
    const action = !cur ? 'created' : same ? 'unchanged' : 'configured';
    return { action, kind: o.kind, name: o.metadata.name, project };
  }

  private async single(caller: TokenRecord | undefined, kind: KindInfo, text: string): Promise<Resource> {
    const obj = (await manifests.single(text))!;
    if (obj.kind !== kind.kind) throw new ValidationError(`expected kind ${kind.kind}`, { details: [{ path: 'kind', message: `"${obj.kind}" does not match /${kind.plural}` }] });
    assertMayWrite(caller, [obj]);
    const [checked] = await admit(this.store, [obj], this.admission);
    return checked!;
  }
}

/** A namespaced kind's project (the default one when none is named); undefined for cluster kinds. */
export function projectFor(kind: KindInfo, project: string | undefined): string | undefined {
  return kind.namespaced ? (project ?? DEFAULT_PROJECT) : undefined;
}

/** Where the next page starts, opaque to clients: the (project, name) of the last object of this page. */
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
