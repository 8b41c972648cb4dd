import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthThrottle, TooManyFailuresError } from './auth-throttle.ts';

test('an address over its failure budget is refused with 429 until its oldest failure leaves the window; others are not', () => {
  let now = 0;
  const t = new AuthThrottle({ maxFailures: 3, windowMs: 1000 }, () => now);
  for (let i = 0; i < 3; i++) {
    t.check('a');
    t.failed('a');
    now += 100;
  }
  assert.throws(() => t.check('a'), (e: Error) => e instanceof TooManyFailuresError && e.status === 429 && /retry in 1 s/.test(e.message));
  t.check('b');
  now = 1001; // the first failure (at 0) has left the window
  t.check('a');
});

test('the addresses tracked are bounded: the least recently failing is forgotten first', () => {
  const t = new AuthThrottle({ maxFailures: 1, windowMs: 60_000, maxAddresses: 2 }, () => 0);
  t.failed('a');
  t.failed('b');
  t.failed('c');
  t.check('a');
  assert.throws(() => t.check('c'));
});
