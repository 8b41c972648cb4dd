import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EgressPolicy, EgressRefusedError } from './egress.ts';

test('by default webhooks and sinks may not go to link-local (metadata), unspecified or multicast addresses; loopback, private and public are fine', async () => {
  const p = new EgressPolicy();
  for (const a of ['169.254.169.254', 'fe80::1', '0.0.0.0', '224.0.0.1', '::ffff:169.254.169.254']) assert.ok(p.problem(a), a);
  for (const a of ['127.0.0.1', '10.0.0.1', '8.8.8.8', '2001:db8::1']) assert.equal(p.problem(a), undefined, a);
  await assert.rejects(p.check('169.254.169.254'), EgressRefusedError);
  await assert.rejects(p.check('[fe80::1]'), /link-local/);
  await p.check('localhost');
});

test("an admin's allow-list lets a refused network through, and only that one", async () => {
  const p = new EgressPolicy(['169.254.10.0/24']);
  assert.equal(p.problem('169.254.10.7'), undefined);
  assert.ok(p.problem('169.254.169.254'));
  assert.throws(() => new EgressPolicy(['not-a-net']), /not a network/);
});
