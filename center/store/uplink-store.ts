import type { Kysely } from 'kysely';
import { nowIso } from '../../core/index.ts';
import type { Database } from './schema.ts';
import type { StoredUplinkMessage, UplinkProgressKey, UplinkRecord, UplinkStore } from './store.ts';

/** Rows per INSERT: 10 columns each stays far below SQLite's (32766) and PostgreSQL's (65535) parameter limits. */
const INSERT_CHUNK = 1000;

export class KyselyUplinkStore implements UplinkStore {
  constructor(private readonly db: Kysely<Database>) {}

  async progress(key: UplinkProgressKey): Promise<number> {
    const row = await this.db
      .selectFrom('uplink_progress')
      .select('acked_seq')
      .where('node', '=', key.node)
      .where('project', '=', key.project)
      .where('route', '=', key.route)
      .executeTakeFirst();
    return row ? Number(row.acked_seq) : 0;
  }

  record(key: UplinkProgressKey, routeUid: string, messages: UplinkRecord[], opts: { rows: boolean }): Promise<{ ackedSeq: number; fresh: number }> {
    return this.db.transaction().execute(async (tx) => {
      const row = await tx
        .selectFrom('uplink_progress')
        .select(['acked_seq', 'route_uid', 'delivered'])
        .where('node', '=', key.node)
        .where('project', '=', key.project)
        .where('route', '=', key.route)
        .executeTakeFirst();
      const acked = row ? Number(row.acked_seq) : 0;
      const fresh = messages.filter((m) => m.seq > acked);
      if (!fresh.length) return { ackedSeq: acked, fresh: 0 };
      let landed = fresh.length;
      if (opts.rows) {
        landed = 0;
        const receivedAt = nowIso();
        for (let i = 0; i < fresh.length; i += INSERT_CHUNK) {
          const values = fresh.slice(i, i + INSERT_CHUNK).map((m) => ({
            project: key.project,
            route: key.route,
            node: key.node,
            seq: m.seq,
            topic: m.topic,
            device: m.device ?? null,
            qos: m.qos,
            at: m.at,
            received_at: receivedAt,
            payload: m.payload,
          }));
          // The unique key makes a second writer (another center on the same PostgreSQL) harmless too.
          const res = await tx
            .insertInto('uplink_messages')
            .values(values)
            .onConflict((oc) => oc.columns(['project', 'route', 'node', 'seq']).doNothing())
            .executeTakeFirst();
          landed += Number(res.numInsertedOrUpdatedRows ?? 0);
        }
      }
      const ackedSeq = fresh.at(-1)!.seq;
      const delivered = (row && row.route_uid === routeUid ? Number(row.delivered) : 0) + landed;
      await tx
        .insertInto('uplink_progress')
        .values({ node: key.node, project: key.project, route: key.route, route_uid: routeUid, acked_seq: ackedSeq, delivered })
        .onConflict((oc) => oc.columns(['node', 'project', 'route']).doUpdateSet({ route_uid: routeUid, acked_seq: ackedSeq, delivered }))
        .execute();
      return { ackedSeq, fresh: landed };
    });
  }

  async delivered(project: string, route: string, routeUid: string): Promise<number> {
    const row = await this.db
      .selectFrom('uplink_progress')
      .select((eb) => eb.fn.sum<number | string | null>('delivered').as('n'))
      .where('project', '=', project)
      .where('route', '=', route)
      .where('route_uid', '=', routeUid)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async messages(project: string, route: string, q: { device?: string; after?: number; limit: number }): Promise<StoredUplinkMessage[]> {
    let query = this.db.selectFrom('uplink_messages').selectAll().where('project', '=', project).where('route', '=', route);
    if (q.device !== undefined) query = query.where('device', '=', q.device);
    const rows =
      q.after !== undefined
        ? await query.where('id', '>', q.after).orderBy('id', 'asc').limit(q.limit).execute()
        : (await query.orderBy('id', 'desc').limit(q.limit).execute()).reverse();
    return rows.map((r) => ({
      id: Number(r.id),
      node: r.node,
      seq: Number(r.seq),
      topic: r.topic,
      ...(r.device !== null ? { device: r.device } : {}),
      qos: r.qos,
      at: r.at,
      receivedAt: r.received_at,
      payload: Buffer.from(r.payload),
    }));
  }

  async uplinkRoutes(): Promise<{ project: string; route: string }[]> {
    return this.db.selectFrom('uplink_progress').select(['project', 'route']).distinct().orderBy('project').orderBy('route').execute();
  }

  async nthNewestId(project: string, route: string, n: number, belowId?: number): Promise<number | undefined> {
    let q = this.db.selectFrom('uplink_messages').select('id').where('project', '=', project).where('route', '=', route);
    if (belowId !== undefined) q = q.where('id', '<', belowId);
    // Walks the (project, route, id) index from the newest end: n entries, no table rows.
    const row = await q.orderBy('id', 'desc').limit(1).offset(n - 1).executeTakeFirst();
    return row ? Number(row.id) : undefined;
  }

  async prune(project: string, route: string, q: { limit: number; belowId?: number; receivedBefore?: string }): Promise<number> {
    // SQLite has no DELETE ... LIMIT (unless built with it): bound the delete by an id subquery, which PostgreSQL runs too.
    let oldest = this.db.selectFrom('uplink_messages').select('id').where('project', '=', project).where('route', '=', route);
    if (q.belowId !== undefined) oldest = oldest.where('id', '<', q.belowId);
    let del = this.db.deleteFrom('uplink_messages').where('id', 'in', oldest.orderBy('id', 'asc').limit(q.limit));
    if (q.receivedBefore !== undefined) del = del.where('received_at', '<', q.receivedBefore);
    const res = await del.executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
