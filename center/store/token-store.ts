import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';
import type { TokenFilter, TokenKind, TokenRecord, TokenStore } from './store.ts';

export class KyselyTokenStore implements TokenStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(t: TokenRecord): Promise<void> {
    await this.db
      .insertInto('tokens')
      .values({
        id: t.id,
        kind: t.kind,
        hash: t.hash,
        description: t.description,
        subject: t.subject,
        created_at: t.createdAt,
        expires_at: t.expiresAt,
        used_at: t.usedAt,
        projects: t.kind === 'user' ? JSON.stringify(t.projects) : null,
      })
      .execute();
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    const r = await this.db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  async list(filter: TokenFilter = {}): Promise<TokenRecord[]> {
    let q = this.db.selectFrom('tokens').selectAll();
    if (filter.subject !== undefined) q = q.where('subject', '=', filter.subject);
    if (filter.kinds) q = filter.kinds.length ? q.where('kind', 'in', filter.kinds) : q.where(sql<boolean>`false`);
    return (await q.orderBy('created_at').execute()).map(toRecord);
  }

  async markUsed(id: string, at: string): Promise<boolean> {
    const r = await this.db.updateTable('tokens').set({ used_at: at }).where('id', '=', id).where('used_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('tokens').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }
}

function toRecord(r: Database['tokens']): TokenRecord {
  return {
    id: r.id,
    kind: r.kind as TokenKind,
    hash: r.hash,
    description: r.description,
    subject: r.subject,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    usedAt: r.used_at,
    projects: r.projects ? (JSON.parse(r.projects) as string[]) : [],
  };
}
