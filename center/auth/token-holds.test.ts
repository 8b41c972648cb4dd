import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenHolds } from './token-holds.ts';
import { waitFor } from '../../core/wait-for.ts';
import type { TokenRecord } from '../store/store.ts';

const token = (id: string, expiresAt: string | null = null): TokenRecord => ({ id, kind: 'user', hash: '', description: '', subject: null, createdAt: '', expiresAt, usedAt: null, projects: ['p'] });

test('revoking a token ends everything open in its name, once, and nothing of other tokens', () => {
  const h = new TokenHolds();
  const ended: string[] = [];
  h.hold(token('a'), (why) => ended.push(`a1:${why}`));
  h.hold(token('a'), (why) => ended.push(`a2:${why}`));
  h.hold(token('b'), (why) => ended.push(`b:${why}`));
  assert.equal(h.revoke('a', 'deleted'), 2);
  assert.deepEqual(ended, ['a1:deleted', 'a2:deleted']);
  assert.equal(h.revoke('a', 'again'), 0);
  assert.equal(h.size, 1);
  h.close();
});

test('a released hold is not closed, and the last release forgets the token', () => {
  const h = new TokenHolds();
  const ended: string[] = [];
  const release = h.hold(token('a'), () => ended.push('a'));
  release();
  release();
  assert.equal(h.size, 0);
  assert.equal(h.revoke('a', 'x'), 0);
  assert.deepEqual(ended, []);
});

test('an expiring token ends its holds when it expires; an expired one at once', async () => {
  const h = new TokenHolds();
  const ended: string[] = [];
  h.hold(token('soon', new Date(Date.now() + 200).toISOString()), (why) => ended.push(why));
  h.hold(token('gone', new Date(Date.now() - 1).toISOString()), (why) => ended.push(`gone:${why}`));
  assert.deepEqual(ended, ['gone:token expired']);
  await waitFor(() => ended.length === 2, 5000, 'the expiry');
  assert.deepEqual(ended, ['gone:token expired', 'token expired']);
  h.close();
});
