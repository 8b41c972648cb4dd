import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REFUSED_RETRY_MS, refusedOutright, refusedRetryMs } from './dial-refused.ts';

const err = (code: string) => Object.assign(new Error(code), { code });

test('refused outright: nothing listens, a reset before anything was answered, no route; not a timeout, TLS or anything without a code', () => {
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH']) assert.equal(refusedOutright(err(code)), true, code);
  assert.equal(refusedOutright(new Error('fetch failed', { cause: err('ECONNREFUSED') })), true, 'a wrapped cause');
  for (const e of [err('ETIMEDOUT'), err('ERR_TLS_CERT_ALTNAME_INVALID'), new Error('aborted'), undefined, null, 'ECONNREFUSED', { code: 42 }]) assert.equal(refusedOutright(e), false, JSON.stringify(e));
});

test('the retry after a refusal comes within a second (jittered), or sooner while the backoff is shorter', () => {
  assert.equal(refusedRetryMs(30_000, () => 0), REFUSED_RETRY_MS / 2);
  assert.equal(refusedRetryMs(30_000, () => 1), REFUSED_RETRY_MS);
  assert.equal(refusedRetryMs(200, () => 1), 200);
});
