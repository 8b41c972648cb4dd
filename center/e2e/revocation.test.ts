import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient, UPLINK_PATH, tlsFetch } from '../../core/index.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import { issueToken } from '../auth/tokens.ts';
import { RawNode, startPlatform, waitFor, type NodeIdentity, type Platform } from '../../testkit/index.ts';

const tokenId = (token: string): string => token.split('_')[1]!;

/** Reads a stream until it ends or fails; `items` counts what arrived so far. */
function drain(stream: AsyncGenerator<unknown>): { items: () => number; ended: Promise<'ended'> } {
  let items = 0;
  const ended = (async () => {
    try {
      for await (const _ of stream) items++;
    } catch {
      // a cut connection ends it as well
    }
    return 'ended' as const;
  })();
  return { items: () => items, ended };
}

const within = <T>(p: Promise<T>, ms: number): Promise<T | 'still open'> => Promise.race([p, new Promise<'still open'>((r) => setTimeout(() => r('still open'), ms).unref())]);

/**
 * Revocation bites: deleting a Node or a token ends what is open in its name
 * at once, the agent stops dialling and says why, a name is never re-bound to
 * an old credential, and every token kind honours its lifetime.
 */
describe('revocation', () => {
  let p: Platform;
  /** What the node's agent holds: its credential and certificate. */
  const identityOf = (node: string): NodeIdentity => {
    const dir = p.agents.get(node)!.dataDir;
    return { node, credential: (JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8')) as { credential: string }).credential, tls: JSON.parse(readFileSync(join(dir, 'pki', 'node.json'), 'utf8')) as NodeIdentity['tls'] };
  };
  const uplinkAs = (who: NodeIdentity, node: string) =>
    tlsFetch(who.tls)(new URL(UPLINK_PATH, p.center.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${who.credential}`, 'content-type': 'application/json' },
      body: JSON.stringify({ node, project: 'default', route: 'none', messages: [{ seq: 1, topic: 't', payload: '', qos: 1, at: new Date().toISOString() }] }),
    });

  before(async () => {
    p = await startPlatform({ heartbeatMs: 300, agents: [{ name: 'node-a', site: 'edge-a' }, { name: 'node-b', site: 'edge-b' }] });
  });
  after(async () => {
    await p?.close();
  });

  test('deleting a Node revokes its credential, closes its connection, and its agent stops dialling and says why', async () => {
    const agent = p.agents.get('node-a')!;
    const credential = identityOf('node-a');
    await p.center.api.delete('Node', 'node-a');
    const revoked = await agent.process.waitForLine((l) => l.event === 'revoked', 10_000);
    assert.match(String(revoked.why), /revoked|deleted/);
    assert.equal((await uplinkAs(credential, 'node-a')).status, 401, 'its credential no longer posts uplink batches');
    // A fresh join under the same name gets a new credential; the old one stays dead.
    const fresh = await RawNode.join(p.center, 'node-a', 'edge-a');
    assert.equal((await uplinkAs(credential, 'node-a')).status, 401, 'the name is not re-bound to the old credential');
    const node = await RawNode.connect(p.center.url, fresh);
    node.close();
    await assert.rejects(RawNode.connect(p.center.url, credential), (e: Error & { status?: number }) => e.status === 401);
  });

  test("deleting a node's token closes its connection at once with 4401, and the agent stops", async () => {
    const agent = p.agents.get('node-b')!;
    const credential = identityOf('node-b');
    await p.center.api.raw('DELETE', `/api/v1/tokens/${tokenId(credential.credential)}`);
    const revoked = await agent.process.waitForLine((l) => l.event === 'revoked', 10_000);
    assert.match(String(revoked.why), /revoked/);
    assert.equal((await uplinkAs(credential, 'node-b')).status, 401);
  });

  test('deleting a user token ends its open watch stream at once; the token is dead for new requests', async () => {
    await p.center.api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'p1' }, spec: {} }));
    const user = await p.center.api.createToken({ kind: 'user', projects: ['p1'] });
    assert.equal(user.expiresAt, null, 'a user token without ttl does not expire');
    const api = new ApiClient(p.center.url, user.token, p.center.ca);
    const watch = drain(api.watch('Service', { project: 'p1' }));
    await waitFor(() => watch.items() >= 1 || undefined, 10_000, 'the first bookmark (the watch is open)');
    assert.equal((await p.center.api.raw('DELETE', `/api/v1/tokens/${user.id}`)).status, 200);
    assert.equal(await within(watch.ended, 10_000), 'ended');
    await assert.rejects(api.list('Service', { project: 'p1' }), /invalid token/);
  });

  test('user and admin tokens honour ttl, and an open stream ends when its token expires', async () => {
    const user = await p.center.api.createToken({ kind: 'user', projects: ['p1'], ttl: '10m' });
    assert.ok(user.expiresAt && Math.abs(Date.parse(user.expiresAt) - Date.now() - 600_000) < 60_000, `expires in ten minutes: ${user.expiresAt}`);
    assert.ok((await p.center.api.createToken({ kind: 'admin', ttl: '2m' })).expiresAt);
    // The field that took seconds before durations were one grammar: refused, saying what to write.
    const old = await p.center.api.raw('POST', '/api/v1/tokens', JSON.stringify({ kind: 'admin', ttlSeconds: 600 }));
    assert.equal(old.status, 422);
    assert.deepEqual(((await old.json()) as { details: unknown[] }).details, [{ path: 'ttlSeconds', message: 'ttlSeconds is now ttl, a duration: write ttl: 10m' }]);
    // A token about to expire, planted in the center's own store (SQLite allows a second writer).
    const store = await openSqliteStore(join(p.center.dataDir, 'center.db'));
    const soon = await issueToken(store, 'user', { projects: ['p1'], ttlMs: 3000 });
    await store.close();
    const watch = drain(new ApiClient(p.center.url, soon.token, p.center.ca).watch('Service', { project: 'p1' }));
    await waitFor(() => watch.items() >= 1 || undefined, 10_000, 'the watch open');
    assert.equal(await within(watch.ended, 15_000), 'ended', 'the watch ended at the expiry');
  });

  test('a revoked agent keeps its process and workloads (the edge stays autonomous) and does not dial again', async () => {
    for (const name of ['node-a', 'node-b']) {
      const agent = p.agents.get(name)!;
      assert.equal(agent.process.proc.exitCode, null, `${name}'s agent is still up`);
      const revokedAt = agent.process.lines.findIndex((l) => l.event === 'revoked');
      assert.ok(revokedAt >= 0);
      assert.deepEqual(agent.process.events('connecting', revokedAt), [], `${name} did not dial after it was refused`);
    }
  });
});
