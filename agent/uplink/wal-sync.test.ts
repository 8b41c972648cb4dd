import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { UplinkAppend } from './queue-types.ts';
import { UplinkQueue } from './uplink-queue.ts';
import type { Fdatasync } from './wal-sync.ts';

// fsync batch through the queue: a disk that stalls or fails stands in for the real one where the test needs it.
const A = { project: 'p', route: 'a' };
const msg = (text: string): UplinkAppend => ({ ...A, topic: 't', payload: Buffer.from(text), qos: 1 });
const texts = (q: UplinkQueue) => q.batch(A, 10_000, Number.MAX_SAFE_INTEGER).map((m) => m.payload.toString());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A disk whose fsyncs finish only when the test says so (or fail, while `failing` lasts). */
function stallingDisk(): { fdatasync: Fdatasync; held: number; finishOne(): void; failing: number } {
  const queue: ((err: NodeJS.ErrnoException | null) => void)[] = [];
  const disk = {
    failing: 0,
    get held() {
      return queue.length;
    },
    fdatasync: ((_fd, done) => {
      if (disk.failing > 0) {
        disk.failing--;
        setImmediate(() => done(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })));
      } else queue.push(done);
    }) as Fdatasync,
    finishOne: () => queue.shift()?.(null),
  };
  return disk;
}

async function withQueue(title: string, fn: (dir: string) => Promise<void>): Promise<void> {
  await test(title, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gedge-walsync-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

await withQueue('a commit never waits for the disk: while an fsync stalls, appends commit and batch; durable() resolves once the fsync covering them is done', async (dir) => {
  const disk = stallingDisk();
  const q = UplinkQueue.open(dir, { fsync: 'batch' }, { fdatasync: disk.fdatasync });
  try {
    q.append(msg('1'));
    let durable1 = false;
    void q.durable().then(() => (durable1 = true));
    await sleep(20);
    assert.deepEqual(texts(q), ['1'], 'committed and batched while the disk holds the fsync');
    assert.equal(durable1, false, 'not durable before an fsync covering it is done');
    let finished = 0;
    while (!durable1 && finished < 4) {
      assert.ok(disk.held > 0, 'an fsync is on its way');
      disk.finishOne();
      finished++;
      await sleep(5);
    }
    assert.ok(durable1, `durable after ${finished} fsyncs`);
    // A second commit needs an fsync that starts after it.
    q.append(msg('2'));
    let durable2 = false;
    void q.durable().then(() => (durable2 = true));
    await sleep(20);
    assert.equal(durable2, false);
    while (disk.held > 0) {
      disk.finishOne();
      await sleep(5);
    }
    assert.ok(durable2);
    assert.deepEqual(texts(q), ['1', '2']);
  } finally {
    q.close();
  }
  const again = UplinkQueue.open(dir, { fsync: 'batch' });
  try {
    assert.deepEqual(texts(again), ['1', '2'], 'closing synced what was left');
  } finally {
    again.close();
  }
});

await withQueue('a failing fsync is logged and tried again; durable() waits for the one that succeeds', async (dir) => {
  const disk = stallingDisk();
  const errors: string[] = [];
  const log = { error: (o: { err: Error }, m: string) => errors.push(`${m}: ${o.err.message}`) } as unknown as Logger;
  const q = UplinkQueue.open(dir, { fsync: 'batch' }, { fdatasync: disk.fdatasync, log });
  try {
    while (disk.held > 0) disk.finishOne();
    await sleep(5);
    disk.failing = 2;
    q.append(msg('1'));
    let durable = false;
    void q.durable().then(() => (durable = true));
    await sleep(400); // two failures, 100 ms apart, then one that waits for the test
    assert.equal(durable, false);
    assert.equal(errors.length, 2, errors.join('\n'));
    assert.match(errors[0]!, /fsync failed; trying again: EIO/);
    disk.finishOne();
    await sleep(5);
    assert.ok(durable);
  } finally {
    q.close();
  }
});

await withQueue('checkpoints keep the WAL bounded: acked traffic over seconds reuses the WAL instead of growing it', async (dir) => {
  const q = UplinkQueue.open(dir, { fsync: 'batch' });
  const wal = join(dir, 'uplink.db-wal');
  const payload = 'x'.repeat(1000);
  const sizes: number[] = [];
  try {
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1000; i++) q.append(msg(`${round}:${i}:${payload}`));
      await q.durable();
      const rows = q.batch(A, 10_000, Number.MAX_SAFE_INTEGER);
      assert.equal(rows.length, 1000);
      assert.equal(q.ack('p', 'a', rows.at(-1)!.seq), 1000);
      await q.durable();
      await sleep(1100); // the next fsync may checkpoint
      sizes.push(statSync(wal).size);
    }
  } finally {
    q.close();
  }
  // A round writes its rows and their deletion (about 2 MB of WAL): with nothing checkpointed the WAL would grow by
  // that each round, to five rounds' worth. Reused, it holds at most three (a slow disk may let a checkpoint or two
  // miss its round).
  assert.ok(Math.max(...sizes) <= 3 * sizes[0]!, `WAL sizes ${sizes.join(', ')}`);
});

await withQueue("close returns after the checkpointer's connection: the queue's own closes last, so the WAL is folded in and the directory holds the database alone", async (dir) => {
  for (let round = 0; round < 6; round++) {
    const q = UplinkQueue.open(dir, { fsync: 'batch' });
    for (let i = 0; i < 100; i++) q.append(msg(`${round}:${i}`));
    // Half the rounds close before the checkpointer has even opened its connection.
    if (round % 2) await q.durable();
    q.close();
    // Any -wal or -shm left here would be removed by a connection still closing (rmdir then fails ENOTEMPTY).
    assert.deepEqual(readdirSync(dir), ['uplink.db'], `round ${round}`);
  }
  const q = UplinkQueue.open(dir, { fsync: 'batch' });
  try {
    assert.equal(texts(q).length, 600);
  } finally {
    q.close();
  }
});
