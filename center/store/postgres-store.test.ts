import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { after } from 'node:test';
import { openPostgresStore } from './postgres-store.ts';
import { storeContract } from './store-contract.ts';

// The local PostgreSQL (trust auth, database `test`) is a real peer; CI fails loudly without it.
const url = process.env.GEDGE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];

storeContract('postgres', () => {
  const schema = `gedge_test_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  return openPostgresStore(url, schema);
});

after(async () => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await client.end();
});
