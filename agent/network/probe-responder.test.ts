import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { waitFor } from '../../core/index.ts';
import { FRAME_BYTES, FrameReader, signedFrame, verifyFrame } from './probe-frame.ts';
import { ProbeResponder } from './probe-responder.ts';

const KEY = randomBytes(32);

/** A client that collects what it receives and notices when the server drops it. */
async function client(port: number) {
  const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
  const got: Buffer[] = [];
  let closed = false;
  s.on('data', (b: Buffer) => got.push(b));
  s.on('error', () => undefined);
  s.on('close', () => (closed = true));
  await new Promise<void>((r) => s.once('connect', () => r()));
  return { s, received: () => Buffer.concat(got), closed: () => closed };
}

test('without a key the responder drops every connection', async () => {
  const r = await ProbeResponder.start({ host: '127.0.0.1', port: 0 });
  try {
    const c = await client(r.address.port);
    c.s.write(signedFrame(KEY));
    await waitFor(() => c.closed(), 2000, 'the connection dropped');
    assert.equal(c.received().length, 0);
    assert.ok(r.stats.rejected >= 1);
  } finally {
    await r.close();
  }
});

test('echoes frames signed with the current key and drops the connection at a bad HMAC', async () => {
  const r = await ProbeResponder.start({ host: '127.0.0.1', port: 0 });
  r.setKey(KEY);
  try {
    const c = await client(r.address.port);
    const good = signedFrame(KEY);
    c.s.write(good);
    await waitFor(() => c.received().length === FRAME_BYTES, 2000, 'the echo');
    assert.deepEqual(c.received(), good);

    const forged = signedFrame(randomBytes(32));
    c.s.write(forged);
    await waitFor(() => c.closed(), 2000, 'the connection dropped');
    assert.equal(c.received().length, FRAME_BYTES, 'the forged frame was not echoed');
    assert.equal(r.stats.answered, 1);
    assert.equal(r.stats.rejected, 1);
  } finally {
    await r.close();
  }
});

test('a new key applies at once: frames signed with the old one are refused', async () => {
  const r = await ProbeResponder.start({ host: '127.0.0.1', port: 0 });
  r.setKey(KEY);
  try {
    const c = await client(r.address.port);
    r.setKey(randomBytes(32));
    c.s.write(signedFrame(KEY));
    await waitFor(() => c.closed(), 2000, 'the connection dropped');
    assert.equal(c.received().length, 0);
  } finally {
    await r.close();
  }
});

test('frames split across reads and coalesced into one read are all answered', async () => {
  const r = await ProbeResponder.start({ host: '127.0.0.1', port: 0 });
  r.setKey(KEY);
  try {
    const c = await client(r.address.port);
    const a = signedFrame(KEY);
    const b = signedFrame(KEY);
    const d = signedFrame(KEY);
    // Byte by byte, each write on its own tick so the server sees separate reads.
    for (const byte of a) {
      c.s.write(Buffer.from([byte]));
      await new Promise((res) => setImmediate(res));
    }
    await waitFor(() => c.received().length === FRAME_BYTES, 2000, 'the echo of a trickled frame');
    // Two and a half frames in one write, then the rest.
    const both = Buffer.concat([b, d]);
    c.s.write(both.subarray(0, 70));
    await new Promise((res) => setTimeout(res, 20));
    c.s.write(both.subarray(70));
    await waitFor(() => c.received().length === 3 * FRAME_BYTES, 2000, 'the echoes of coalesced frames');
    assert.deepEqual(c.received(), Buffer.concat([a, b, d]));
    assert.equal(c.closed(), false);
  } finally {
    await r.close();
  }
});

test('FrameReader yields the same frames however the stream is cut', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }), fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 20 }), (n, cuts) => {
      const frames = Array.from({ length: n }, () => signedFrame(KEY));
      const stream = Buffer.concat(frames);
      const reader = new FrameReader();
      const out: Buffer[] = [];
      let at = 0;
      for (let i = 0; at < stream.length; i++) {
        const len = cuts[i % cuts.length]!;
        out.push(...reader.push(stream.subarray(at, at + len)));
        at += len;
      }
      assert.deepEqual(out.map((f) => f.toString('hex')), frames.map((f) => f.toString('hex')));
      assert.ok(out.every((f) => verifyFrame(KEY, f)));
    }),
  );
});
