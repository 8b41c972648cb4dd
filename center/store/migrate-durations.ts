import type { Kysely, Transaction } from 'kysely';
import { templateHash, upgradeLegacyFields, type Instance, type Service } from '../../core/index.ts';

/** The kinds that had a duration field written as a number (core/legacy-fields.ts). */
const KINDS = ['Service', 'Instance', 'Rule', 'Route', 'DeviceCommand', 'SiteLink'];
const BATCH = 500;

type Row = { kind: string; project: string; name: string; body: string };
/** The two tables it rewrites, as migration 0001 made them. */
interface Tables {
  objects: Row & { revision: number };
  changes: Row & { revision: number; type: string; status_only: number };
}
/** `project/service/old hash` -> the hash of the same revision rewritten. */
type HashMap = Map<string, string>;

/**
 * Migration 0003: every duration field became a duration (`periodMs: 1000`
 * is `period: 1s`). Rewrites the objects and their history. Renaming fields
 * changes a template's hash, and an instance whose hash differs from its
 * service's is replaced by the next rollout: so each Service's revision
 * hashes are recomputed, and its instances' templateHash follows them, and
 * an upgrade restarts nothing.
 */
export async function upgradeDurationFields(db: Kysely<Tables>): Promise<void> {
  // PostgreSQL runs a migration in a transaction already; SQLite's does not, so one is made here.
  if (db.isTransaction) return rewriteAll(db as Transaction<Tables>);
  await db.transaction().execute(rewriteAll);
}

async function rewriteAll(tx: Transaction<Tables>): Promise<void> {
  const hashes: HashMap = new Map();
  const current = await tx.selectFrom('objects').select(['kind', 'project', 'name', 'body']).where('kind', 'in', KINDS).execute();
  // Services first: their revisions say what each old hash became.
  const ordered = [...current.filter((r) => r.kind === 'Service'), ...current.filter((r) => r.kind !== 'Service')];
  for (const row of ordered) {
    const body = rewrite(row, hashes);
    if (body !== undefined) await tx.updateTable('objects').set({ body }).where('kind', '=', row.kind).where('project', '=', row.project).where('name', '=', row.name).execute();
  }
  for (let after = 0; ; ) {
    const page = await tx.selectFrom('changes').select(['revision', 'kind', 'project', 'name', 'body']).where('revision', '>', after).where('kind', 'in', KINDS).orderBy('revision').limit(BATCH).execute();
    for (const row of page) {
      const body = rewrite(row, hashes);
      if (body !== undefined) await tx.updateTable('changes').set({ body }).where('revision', '=', row.revision).execute();
    }
    if (page.length < BATCH) break;
    after = Number(page.at(-1)!.revision);
  }
}

/** The row's body rewritten, or undefined when it had nothing to rewrite. */
function rewrite(row: Row, hashes: HashMap): string | undefined {
  const object = JSON.parse(row.body) as unknown;
  if (!upgradeLegacyFields(object)) return undefined;
  if (row.kind === 'Service') {
    const service = object as Service;
    for (const r of service.status?.revisions ?? []) {
      const fresh = templateHash(r.template, r.placement);
      hashes.set(`${row.project}/${row.name}/${r.hash}`, fresh);
      r.hash = fresh;
    }
  }
  if (row.kind === 'Instance') {
    const spec = (object as Instance).spec;
    spec.templateHash = (spec.service && hashes.get(`${row.project}/${spec.service}/${spec.templateHash}`)) || spec.templateHash;
  }
  return JSON.stringify(object);
}
