import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { UplinkRecord, UplinkStore } from '../../store/store.ts';
import type { Sink, SinkTarget } from './sink.ts';

export interface SinkHarness {
  sink: Sink;
  /** The store holding the progress. */
  store: UplinkStore;
  /**
   * Everything that landed, in arrival order, as `<node>:<seq> <payload>`,
   * once the message with `lastId` has arrived (sinks that land
   * asynchronously use it as a barrier: what came before it is all there is).
   */
  landed(lastId: string): Promise<string[]>;
  close(): Promise<void>;
}

const target = (node: string): SinkTarget => ({ node, project: 'p', route: 'r', routeUid: 'uid-1' });
const records = (...seqs: number[]): UplinkRecord[] => seqs.map((seq) => ({ seq, topic: 'x', qos: 1, at: new Date(1_700_000_000_000 + seq).toISOString(), payload: Buffer.from(`v${seq}`) }));
const lines = (node: string, ...seqs: number[]) => seqs.map((s) => `${node}:${s} v${s}`);

/** Every Sink implementation runs this suite (STYLE: one contract, many implementations). */
export function sinkContract(name: string, open: () => Promise<SinkHarness>): void {
  const withSink = (title: string, fn: (h: SinkHarness) => Promise<void>) =>
    test(`${name} sink: ${title}`, async () => {
      const h = await open();
      try {
        await fn(h);
      } finally {
        await h.close();
      }
    });

  withSink('a batch lands once and in order; a resent batch is skipped; an overlapping one lands only what is new', async (h) => {
    assert.deepEqual(await h.sink.deliver(target('n1'), records(1, 2, 3)), { ackedSeq: 3, landed: 3 });
    assert.deepEqual(await h.sink.deliver(target('n1'), records(1, 2, 3)), { ackedSeq: 3, landed: 0 });
    assert.deepEqual(await h.sink.deliver(target('n1'), records(2, 3, 4, 5)), { ackedSeq: 5, landed: 2 });
    assert.equal(await h.store.progress(target('n1')), 5);
    assert.deepEqual(await h.landed('n1:5'), lines('n1', 1, 2, 3, 4, 5));
  });

  withSink('nodes have their own progress on the same route', async (h) => {
    await h.sink.deliver(target('n1'), records(10, 20));
    assert.deepEqual(await h.sink.deliver(target('n2'), records(1, 2)), { ackedSeq: 2, landed: 2 });
    assert.deepEqual(await h.sink.deliver(target('n1'), records(20, 30)), { ackedSeq: 30, landed: 1 });
    assert.deepEqual(await h.landed('n1:30'), [...lines('n1', 10, 20), ...lines('n2', 1, 2), ...lines('n1', 30)]);
    assert.equal(await h.store.delivered('p', 'r', 'uid-1'), 5);
  });

  withSink('a recreated route (new uid) keeps skipping seen seqs but counts from zero', async (h) => {
    await h.sink.deliver(target('n1'), records(1, 2));
    const recreated = { ...target('n1'), routeUid: 'uid-2' };
    assert.deepEqual(await h.sink.deliver(recreated, records(2, 3)), { ackedSeq: 3, landed: 1 });
    assert.equal(await h.store.delivered('p', 'r', 'uid-2'), 1);
    assert.deepEqual(await h.landed('n1:3'), lines('n1', 1, 2, 3));
  });
}
