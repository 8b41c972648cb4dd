import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { EgressPolicy, EgressRefusedError, type Resolver } from './egress.ts';
import { waitFor } from './wait-for.ts';

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

/** A DNS server that rebinds: the first answer for a name is harmless, every later one is the metadata address. */
function rebinding(): Resolver {
  let asked = 0;
  return (_hostname, _options, callback) => void setImmediate(() => callback(null, [{ address: asked++ === 0 ? '127.0.0.1' : '169.254.169.254', family: 4 }]));
}

test('a name that rebinds after the check is refused when the connection resolves it: the address checked is the address connected to', async () => {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  let accepted = 0;
  server.on('connection', () => accepted++);
  try {
    const p = new EgressPolicy([], rebinding());
    await p.check('sink.example'); // the first answer: 127.0.0.1, allowed
    const err = await new Promise<Error>((resolve) => net.connect({ host: 'sink.example', port, lookup: p.lookup }).once('error', resolve).once('connect', () => resolve(new Error('connected'))));
    assert.ok(err instanceof EgressRefusedError, String(err));
    assert.match(err.message, /sink\.example: 169\.254\.169\.254 is link-local/);
    // A name whose every answer is allowed connects, through the same lookup.
    const ok = new EgressPolicy([], (_h, _o, cb) => void setImmediate(() => cb(null, [{ address: '127.0.0.1', family: 4 }])));
    await new Promise<void>((resolve, reject) => net.connect({ host: 'sink.example', port, lookup: ok.lookup }).once('connect', function (this: net.Socket) { this.destroy(); resolve(); }).once('error', reject));
    await waitFor(() => accepted === 1, 5000, 'the allowed connection at the server');
  } finally {
    await new Promise((r) => server.close(r));
  }
});
