import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqemitter from 'mqemitter';
import { guardedEmitter } from './emitter.ts';

/**
 * Saturates an emitter (100 deliveries held), queues many more whose
 * deliveries complete synchronously, then lets the held ones go: mqemitter
 * drains its queue recursively.
 */
async function drain(mq: ReturnType<typeof mqemitter>, queued: number): Promise<number[]> {
  const seen: number[] = [];
  const held: (() => void)[] = [];
  mq.on('t', (m, done) => {
    const n = (m as unknown as { n: number }).n;
    seen.push(n);
    if (n < 100) held.push(done);
    else done();
  });
  for (let n = 0; n < 100 + queued; n++) mq.emit({ topic: 't', n });
  for (const done of held) done();
  await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; seen.length < 100 + queued && i < 200; i++) await new Promise((r) => setImmediate(r));
  return seen;
}

describe('guarded emitter', () => {
  it('the plain mqemitter overflows the stack draining a long queue of synchronous deliveries (the failure guarded against)', async () => {
    await assert.rejects(drain(mqemitter({ concurrency: 100 }), 50_000), RangeError);
  });

  it('drains the same queue completely and in order', async () => {
    const seen = await drain(guardedEmitter(100), 50_000);
    assert.equal(seen.length, 50_100);
    assert.ok(seen.every((n, i) => n === i), 'in emission order');
  });
});
