import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Kysely, Transaction } from 'kysely';
import {
  AlreadyExistsError,
  ConflictError,
  GoneError,
  NotFoundError,
  KINDS,
  lookupKind,
  DEFAULT_PROJECT,
  matchesSelector,
  nowIso,
  type KindName,
  type KindOf,
  type Resource,
} from '../../core/index.ts';
import type { ApplyResult, Change, ChangeListener, ChangeType, ListOptions, Store, TokenStore, UplinkStore, WriteOptions } from './store.ts';
import type { Database } from './schema.ts';
import { KyselyTokenStore } from './token-store.ts';
import { KyselyUplinkStore } from './uplink-store.ts';
import { GroupCommit, type WriteJob } from './group-commit.ts';
import { stableEqual } from './stable-json.ts';

type Tx = Transaction<Database> | Kysely<Database>;

/**
 * The store over Kysely; the dialect (SQLite or PostgreSQL) is the caller's.
 * Writes are serialised, and those that queue up share one commit
 * (group-commit.ts), so that change notifications leave in revision order,
 * exactly once, after commit.
 */
export class KyselyStore implements Store {
  readonly tokens: TokenStore;
  readonly uplink: UplinkStore;
  private readonly emitter = new EventEmitter();
  private readonly writes: GroupCommit;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly onClose: () => Promise<void>,
    /** How durable a commit is, read back from the live connection (e.g. "sqlite synchronous=FULL"). */
    readonly durability: () => Promise<string>,
  ) {
    this.tokens = new KyselyTokenStore(db);
    this.uplink = new KyselyUplinkStore(db);
    this.emitter.setMaxListeners(0);
    this.writes = new GroupCommit(db, (changes) => {
      for (const c of changes) {
        try {
          this.emitter.emit('change', c);
        } catch {
          // A faulty listener must not fail a committed write.
        }
      }
    });
  }

  commitStats(): { commits: number; writes: number } {
    return { ...this.writes.counts };
  }

  get<K extends KindName>(kind: K, project: string | undefined, name: string): Promise<KindOf<K> | undefined>;
  get(kind: string, project: string | undefined, name: string): Promise<Resource | undefined>;
  async get(kind: string, project: string | undefined, name: string): Promise<Resource | undefined> {
    const row = await this.db
      .selectFrom('objects')
      .select(['revision', 'body'])
      .where('kind', '=', kind)
      .where('project', '=', projectOf(kind, project))
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? hydrate(row.body, row.revision) : undefined;
  }

  list<K extends KindName>(kind: K, opts?: ListOptions): Promise<{ items: KindOf<K>[]; revision: number }>;
  list(kind: string, opts?: ListOptions): Promise<{ items: Resource[]; revision: number }>;
  async list(kind: string, opts: ListOptions = {}): Promise<{ items: Resource[]; revision: number }> {
    // Read the revision first: a client that lists then watches from it misses nothing.
    const revision = await this.currentRevision();
    let q = this.db.selectFrom('objects').select(['revision', 'body']).where('kind', '=', kind);
    if (opts.project !== undefined && lookupKind(kind)?.namespaced) q = q.where('project', '=', opts.project);
    const after = opts.after;
    if (after) q = q.where((eb) => eb.or([eb('project', '>', after.project), eb.and([eb('project', '=', after.project), eb('name', '>', after.name)])]));
    if (opts.limit !== undefined) q = q.limit(opts.limit);
    const rows = await q.orderBy('project').orderBy('name').execute();
    let items = rows.map((r) => hydrate(r.body, r.revision));
    if (opts.selector?.length) items = items.filter((o) => matchesSelector(opts.selector!, o.metadata.labels));
    return { items, revision };
  }

  create<T extends Resource>(obj: T): Promise<KindOf<T['kind']>> {
    return this.write(async (tx, changes) => {
      if (await this.find(tx, obj)) throw new AlreadyExistsError(`${obj.kind} "${obj.metadata.name}" already exists`);
      return ofKind(obj, await this.insert(tx, changes, fresh(obj, obj.status)));
    });
  }

  apply(objs: Resource[]): Promise<ApplyResult[]> {
    return this.write(async (tx, changes) => {
      const results: ApplyResult[] = [];
      for (const obj of objs) {
        const existing = await this.find(tx, obj);
        if (!existing) {
          results.push({ action: 'created', object: await this.insert(tx, changes, fresh(obj, undefined)) });
          continue;
        }
        checkRevision(existing, obj.metadata.revision);
        const specSame = stableEqual(existing.spec, obj.spec);
        if (specSame && sameMetadata(existing, obj)) {
          results.push({ action: 'unchanged', object: existing });
          continue;
        }
        const next = merge(existing, obj, !specSame);
        results.push({ action: 'configured', object: await this.save(tx, changes, next, 'MODIFIED', false) });
      }
      return results;
    });
  }

  update<T extends Resource>(obj: T, opts: WriteOptions = {}): Promise<KindOf<T['kind']>> {
    return this.write(async (tx, changes) => {
      const existing = await this.mustFind(tx, obj.kind, obj.metadata.project, obj.metadata.name);
      checkRevision(existing, opts.expectRevision ?? obj.metadata.revision);
      const specSame = stableEqual(existing.spec, obj.spec);
      const statusSame = !opts.withStatus || stableEqual(existing.status, obj.status);
      if (specSame && statusSame && sameMetadata(existing, obj)) return ofKind(obj, existing);
      const next = merge(existing, obj, !specSame);
      if (opts.withStatus) (next as { status?: unknown }).status = obj.status;
      return ofKind(obj, await this.save(tx, changes, next, 'MODIFIED', false));
    });
  }

  updateStatus(kind: string, project: string | undefined, name: string, status: unknown, opts: WriteOptions = {}): Promise<Resource> {
    return this.write(async (tx, changes) => {
      const existing = await this.mustFind(tx, kind, project, name);
      checkRevision(existing, opts.expectRevision);
      if (stableEqual(existing.status, status)) return existing;
      return this.save(tx, changes, { ...existing, status } as Resource, 'MODIFIED', true);
    });
  }

  delete(kind: string, project: string | undefined, name: string, opts: WriteOptions = {}): Promise<Resource> {
    return this.write(async (tx, changes) => {
      const existing = await this.mustFind(tx, kind, project, name);
      checkRevision(existing, opts.expectRevision);
      const p = projectOf(kind, project);
      await tx.deleteFrom('objects').where('kind', '=', kind).where('project', '=', p).where('name', '=', name).execute();
      const revision = await this.appendChange(tx, existing, 'DELETED', false);
      const gone = withRevision(existing, revision);
      changes.push({ revision, type: 'DELETED', statusOnly: false, object: gone });
      return gone;
    });
  }

  async changesSince(since: number, limit = 10_000): Promise<Change[]> {
    const compacted = await this.compactedRevision();
    if (since < compacted) throw new GoneError(`revision ${since} was compacted (oldest available: ${compacted})`);
    const rows = await this.db
      .selectFrom('changes')
      .selectAll()
      .where('revision', '>', since)
      .orderBy('revision')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      revision: Number(r.revision),
      type: r.type as ChangeType,
      statusOnly: r.status_only === 1,
      object: hydrate(r.body, Number(r.revision)),
    }));
  }

  async currentRevision(): Promise<number> {
    const row = await this.db.selectFrom('meta').select('value').where('key', '=', 'revision').executeTakeFirst();
    return row ? Number(row.value) : 0;
  }

  async compactedRevision(): Promise<number> {
    const row = await this.db.selectFrom('meta').select('value').where('key', '=', 'compacted').executeTakeFirst();
    return row ? Number(row.value) : 0;
  }

  compact(upTo: number): Promise<number> {
    return this.write(async (tx) => {
      const current = Number((await tx.selectFrom('meta').select('value').where('key', '=', 'revision').executeTakeFirst())?.value ?? 0);
      const target = Math.min(upTo, current);
      const prev = Number((await tx.selectFrom('meta').select('value').where('key', '=', 'compacted').executeTakeFirst())?.value ?? 0);
      if (target <= prev) return 0;
      const res = await tx.deleteFrom('changes').where('revision', '<=', target).executeTakeFirst();
      await setMeta(tx, 'compacted', String(target));
      return Number(res.numDeletedRows);
    });
  }

  subscribe(fn: ChangeListener): () => void {
    this.emitter.on('change', fn);
    return () => this.emitter.off('change', fn);
  }

  async close(): Promise<void> {
    await this.writes.idle();
    this.emitter.removeAllListeners();
    await this.onClose();
  }

  // ---- internals ------------------------------------------------------------

  private write<T>(fn: WriteJob<T>): Promise<T> {
    return this.writes.run(fn);
  }

  private async find(tx: Tx, obj: Resource): Promise<Resource | undefined> {
    return this.findBy(tx, obj.kind, obj.metadata.project, obj.metadata.name);
  }

  private async findBy(tx: Tx, kind: string, project: string | undefined, name: string): Promise<Resource | undefined> {
    const row = await tx
      .selectFrom('objects')
      .select(['revision', 'body'])
      .where('kind', '=', kind)
      .where('project', '=', projectOf(kind, project))
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? hydrate(row.body, Number(row.revision)) : undefined;
  }

  private async mustFind(tx: Tx, kind: string, project: string | undefined, name: string): Promise<Resource> {
    const found = await this.findBy(tx, kind, project, name);
    if (!found) throw new NotFoundError(`${kind} "${name}" not found`, { details: [{ path: 'metadata.name', message: 'not found' }] });
    return found;
  }

  private async insert(tx: Transaction<Database>, changes: Change[], obj: Resource): Promise<Resource> {
    return this.save(tx, changes, obj, 'ADDED', false);
  }

  private async save(tx: Transaction<Database>, changes: Change[], obj: Resource, type: ChangeType, statusOnly: boolean): Promise<Resource> {
    const revision = await this.appendChange(tx, obj, type, statusOnly);
    const body = serialize(obj);
    const project = projectOf(obj.kind, obj.metadata.project);
    if (type === 'ADDED') {
      await tx.insertInto('objects').values({ kind: obj.kind, project, name: obj.metadata.name, revision, body }).execute();
    } else {
      await tx
        .updateTable('objects')
        .set({ revision, body })
        .where('kind', '=', obj.kind)
        .where('project', '=', project)
        .where('name', '=', obj.metadata.name)
        .execute();
    }
    const stored = withRevision(obj, revision);
    changes.push({ revision, type, statusOnly, object: stored });
    return stored;
  }

  private async appendChange(tx: Transaction<Database>, obj: Resource, type: ChangeType, statusOnly: boolean): Promise<number> {
    const row = await tx
      .insertInto('changes')
      .values({
        kind: obj.kind,
        project: projectOf(obj.kind, obj.metadata.project),
        name: obj.metadata.name,
        type,
        status_only: statusOnly ? 1 : 0,
        body: serialize(obj),
      })
      .returning('revision')
      .executeTakeFirstOrThrow();
    const revision = Number(row.revision);
    await setMeta(tx, 'revision', String(revision));
    return revision;
  }
}

async function setMeta(tx: Tx, key: string, value: string): Promise<void> {
  await tx
    .insertInto('meta')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
    .execute();
}

function projectOf(kind: string, project: string | undefined): string {
  const info = (KINDS as Record<string, { namespaced: boolean }>)[kind];
  return info?.namespaced ? (project ?? DEFAULT_PROJECT) : '';
}

/** The revision lives in its column, not in the JSON, so it is written once. */
function serialize(obj: Resource): string {
  const { revision: _r, ...metadata } = obj.metadata;
  return JSON.stringify({ ...obj, metadata });
}

function hydrate(body: string, revision: number | bigint): Resource {
  const obj = JSON.parse(body) as Resource;
  obj.metadata.revision = Number(revision);
  return obj;
}

/** A stored object typed by the kind of the one written (found or saved under that kind): the one place the store's writes are narrowed, so their callers need no cast. */
function ofKind<T extends Resource>(_written: T, stored: Resource): KindOf<T['kind']> {
  return stored as KindOf<T['kind']>;
}

function withRevision(obj: Resource, revision: number): Resource {
  return { ...obj, metadata: { ...obj.metadata, revision } } as Resource;
}

function checkRevision(existing: Resource, expected: number | undefined): void {
  if (expected !== undefined && expected !== existing.metadata.revision) {
    throw new ConflictError(
      `${existing.kind} "${existing.metadata.name}" was modified: your revision ${expected} is stale (current ${existing.metadata.revision})`,
      { details: [{ path: 'metadata.revision', message: `stale; current is ${existing.metadata.revision}` }] },
    );
  }
}

function fresh(obj: Resource, status: unknown): Resource {
  const info = (KINDS as Record<string, { namespaced: boolean }>)[obj.kind];
  const metadata = {
    name: obj.metadata.name,
    ...(info?.namespaced ? { project: obj.metadata.project ?? DEFAULT_PROJECT } : {}),
    labels: obj.metadata.labels ?? {},
    ...(obj.metadata.annotations ? { annotations: obj.metadata.annotations } : {}),
    generation: 1,
    createdAt: nowIso(),
    uid: randomUUID(),
  };
  const out = { apiVersion: obj.apiVersion, kind: obj.kind, metadata, spec: obj.spec } as Resource;
  if (status !== undefined) (out as { status?: unknown }).status = status;
  return out;
}

/** Labels and annotations as written: what a write replaces in metadata (the rest is the store's). */
function sameMetadata(existing: Resource, obj: Resource): boolean {
  return stableEqual(existing.metadata.labels, obj.metadata.labels) && stableEqual(existing.metadata.annotations, obj.metadata.annotations);
}

function merge(existing: Resource, obj: Resource, specChanged: boolean): Resource {
  const { annotations: _, ...kept } = existing.metadata;
  return {
    ...existing,
    metadata: {
      ...kept,
      ...(obj.metadata.annotations ? { annotations: obj.metadata.annotations } : {}),
      labels: obj.metadata.labels ?? {},
      generation: (existing.metadata.generation ?? 1) + (specChanged ? 1 : 0),
    },
    spec: obj.spec,
  } as Resource;
}
