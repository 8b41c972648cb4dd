import { test } from 'node:test';
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { QueueClosedError } from './errors.ts';
import type { UplinkAppend } from './queue-types.ts';
import { UplinkQueue } from './uplink-queue.ts';
import type { UplinkOptionsInput } from './options.ts';

const A = { project: 'p', route: 'a' };
const B = { project: 'p', route: 'b' };
const msg = (key: { project: string; route: string }, text: string, topic = 't'): UplinkAppend => ({ ...key, topic, payload: Buffer.from(text), qos: 1 });
const texts = (q: UplinkQueue, key: { project: string; route: string }) => q.batch(key, 10_000, Number.MAX_SAFE_INTEGER).map((m) => m.payload.toString());

function withQueue(title: string, options: UplinkOptionsInput, fn: (q: UplinkQueue, dir: string, clock: { now: number }) => Promise<void> | void): void {
  test(title, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gedge-uplink-'));
    const clock = { now: 1_700_000_000_000 };
    const q = UplinkQueue.open(dir, options, { now: () => clock.now });
    try {
      await fn(q, dir, clock);
    } finally {
      q.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** Runs appends in a child process that reports each seq once append returned (batch: in groups of 50, once durable() resolved); SIGKILLs it mid-stream. */
async function crashMidAppends(dir: string, fsync: 'always' | 'batch', reportAfter: number): Promise<{ seq: number; text: string }[]> {
  const queueUrl = pathToFileURL(fileURLToPath(new URL('./uplink-queue.ts', import.meta.url))).href;
  const script = `
    import { UplinkQueue } from ${JSON.stringify(queueUrl)};
    const q = UplinkQueue.open(process.env.DIR, { fsync: process.env.FSYNC, commitMs: 5 });
    const group = process.env.FSYNC === 'batch' ? 50 : 1;
    for (let i = 0; ; ) {
      const lines = [];
      for (const end = i + group; i < end; i++) lines.push(q.append({ project: 'p', route: i % 2 ? 'a' : 'b', topic: 't', payload: Buffer.from('m' + i), qos: 1 }) + ' m' + i + '\\n');
      if (group > 1) await q.durable();
      process.stdout.write(lines.join(''));
    }`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, DIR: dir, FSYNC: fsync }, stdio: ['ignore', 'pipe', 'inherit'] });
  const reported: { seq: number; text: string }[] = [];
  const exited = new Promise((r) => child.once('exit', r));
  for await (const line of createInterface({ input: child.stdout })) {
    const [seq, text] = line.split(' ');
    reported.push({ seq: Number(seq), text: text! });
    if (reported.length === reportAfter) child.kill('SIGKILL');
  }
  await exited;
  assert.equal(child.signalCode, 'SIGKILL');
  return reported;
}

for (const fsync of ['always', 'batch'] as const) {
  test(`fsync ${fsync}: a SIGKILL in the middle of appends loses no append that returned${fsync === 'batch' ? ' (and was durable)' : ''}, order kept`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gedge-uplink-crash-'));
    try {
      const reported = await crashMidAppends(dir, fsync, 3000);
      assert.ok(reported.length >= 3000);
      const q = UplinkQueue.open(dir, { fsync });
      try {
        const stored = [...q.batch(A, 10_000, Number.MAX_SAFE_INTEGER), ...q.batch(B, 10_000, Number.MAX_SAFE_INTEGER)].sort((x, y) => x.seq - y.seq);
        const bySeq = new Map(stored.map((m) => [m.seq, m.payload.toString()]));
        for (const r of reported) assert.equal(bySeq.get(r.seq), r.text, `seq ${r.seq} survived`);
        // Anything stored beyond what was reported is the tail of the same stream, in order.
        stored.forEach((m, i) => assert.equal(m.payload.toString(), `m${i}`));
        for (const key of [A, B]) {
          const seqs = q.batch(key, 10_000, Number.MAX_SAFE_INTEGER).map((m) => m.seq);
          assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
        }
        assert.equal(q.stats().depthMessages, stored.length);
        const next = q.append(msg(A, 'after'));
        assert.ok(typeof next === 'number' && next > stored.at(-1)!.seq, 'seq keeps increasing after the crash');
      } finally {
        q.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

withQueue('seq strictly increases across routes and restarts, even after everything was acked', {}, (q0, dir) => {
  let q = q0;
  const s1 = q.append(msg(A, '1')) as number;
  const s2 = q.append(msg(B, '2')) as number;
  assert.ok(s2 > s1 && s1 > 1_700_000_000_000 * 1000, 'a new queue starts at its creation time in microseconds');
  assert.equal(q.ack('p', 'a', s1), 1);
  assert.equal(q.ack('p', 'b', s2), 1);
  q.close();
  q = UplinkQueue.open(dir);
  const s3 = q.append(msg(A, '3')) as number;
  assert.ok(s3 > s2 && s3 <= s2 + 1_000_001, `after the restart ${s3}, at most a reserved block above ${s2}`);
  q.close();
});

withQueue('fsync batch: a power cut that takes back the last commits never hands a sent seq to a new message', { fsync: 'batch' }, (q0, dir) => {
  // The files as a power cut right after the open would leave them: only what was fsynced then (the reservation).
  const disk = mkdtempSync(join(tmpdir(), 'gedge-uplink-disk-'));
  try {
    for (const f of ['uplink.db', 'uplink.db-wal']) copyFileSync(join(dir, f), join(disk, f));
    const sent = [1, 2, 3].map((i) => q0.append(msg(A, `sent${i}`)) as number);
    assert.deepEqual(texts(q0, A), ['sent1', 'sent2', 'sent3'], 'the sender has seen them');
    q0.close();
    for (const f of ['uplink.db', 'uplink.db-wal']) copyFileSync(join(disk, f), join(dir, f));
    rmSync(join(dir, 'uplink.db-shm'), { force: true });
    const q = UplinkQueue.open(dir, { fsync: 'batch' });
    try {
      assert.deepEqual(texts(q, A), [], 'the cut took them back');
      const next = q.append(msg(A, 'new')) as number;
      assert.ok(next > sent.at(-1)!, `the new message's seq ${next} is above every seq sent before the cut (${sent.join(', ')})`);
    } finally {
      q.close();
    }
  } finally {
    rmSync(disk, { recursive: true, force: true });
  }
});

withQueue('batch mode: appends are visible to batch() and durable() resolves once committed', { fsync: 'batch', commitMs: 10_000, commitMessages: 3 }, async (q) => {
  const woken: string[] = [];
  q.onBacklog((k) => woken.push(k.route));
  q.append(msg(A, '1'));
  q.append(msg(A, '2'));
  let durable = false;
  const waiting = q.durable().then(() => (durable = true));
  await Promise.resolve();
  assert.equal(durable, false, 'nothing committed yet');
  assert.deepEqual(woken, []);
  q.append(msg(B, '3')); // the third append fills the group commit
  await waiting;
  assert.deepEqual(woken, ['a', 'b']);
  q.append(msg(A, '4'));
  assert.deepEqual(texts(q, A), ['1', '2', '4'], 'batch() commits what is pending first');
});

withQueue('overflow drop-oldest: evicts the oldest across routes, counters exact', { overflow: 'drop-oldest', maxMessages: 5 }, (q) => {
  for (let i = 0; i < 8; i++) assert.equal(typeof q.append(msg(i % 2 ? B : A, `m${i}`)), 'number');
  const s = q.stats();
  assert.deepEqual({ enqueued: s.enqueued, droppedOverflow: s.droppedOverflow, depthMessages: s.depthMessages, depthBytes: s.depthBytes }, { enqueued: 8, droppedOverflow: 3, depthMessages: 5, depthBytes: 5 * 3 });
  assert.deepEqual(texts(q, A), ['m4', 'm6']);
  assert.deepEqual(texts(q, B), ['m3', 'm5', 'm7']);
});

withQueue('overflow drop-oldest by bytes: evicts just enough, a message over maxBytes is dropped', { overflow: 'drop-oldest', maxBytes: 1024 }, (q) => {
  const big = (i: number) => ({ ...A, topic: 't', payload: Buffer.alloc(300, i), qos: 0 as const });
  for (let i = 0; i < 5; i++) q.append(big(i));
  assert.equal(q.stats().depthBytes, 3 * 301);
  assert.equal(q.stats().droppedOverflow, 2);
  assert.deepEqual(q.batch(A, 10, 1e9).map((m) => m.payload[0]), [2, 3, 4]);
  assert.equal(q.append({ ...A, topic: 't', payload: Buffer.alloc(1024), qos: 0 }), null);
  assert.equal(q.stats().droppedOverflow, 3);
  assert.equal(q.stats().depthMessages, 3);
});

withQueue('overflow drop-newest: refuses new messages while full, counters exact', { overflow: 'drop-newest', maxMessages: 5 }, (q) => {
  const results = Array.from({ length: 8 }, (_, i) => q.append(msg(A, `m${i}`)));
  assert.deepEqual(results.map((r) => r === null), [false, false, false, false, false, true, true, true]);
  const s = q.stats();
  assert.deepEqual({ enqueued: s.enqueued, droppedOverflow: s.droppedOverflow, depthMessages: s.depthMessages }, { enqueued: 5, droppedOverflow: 3, depthMessages: 5 });
  assert.deepEqual(texts(q, A), ['m0', 'm1', 'm2', 'm3', 'm4']);
});

withQueue('overflow block: appends wait in order and are released by acks; close fails the rest', { overflow: 'block', maxMessages: 3 }, async (q) => {
  const seqs = [0, 1, 2].map((i) => q.append(msg(A, `m${i}`)) as number);
  const r3 = q.append(msg(B, 'm3'));
  const r4 = q.append(msg(A, 'm4'));
  const r5 = q.append(msg(A, 'm5'));
  assert.ok(r3 instanceof Promise && r4 instanceof Promise && r5 instanceof Promise);
  assert.equal(q.stats().blocked, 3);
  assert.equal(q.ack('p', 'a', seqs[0]!), 1);
  const s3 = await r3;
  assert.ok(s3 > seqs[2]!);
  assert.equal(q.stats().blocked, 2);
  assert.equal(q.ack('p', 'a', seqs[2]!), 2);
  const s4 = await r4;
  assert.ok(s4 > s3);
  assert.equal(await r5, s4 + 1);
  assert.deepEqual(texts(q, A), ['m4', 'm5']);
  const r6 = q.append(msg(A, 'm6'));
  assert.ok(r6 instanceof Promise);
  q.close();
  await assert.rejects(r6, QueueClosedError);
  assert.equal(q.stats().delivered, 3);
});

withQueue('TTL: messages older than ttlMs are dropped oldest first and never batched', { ttlMs: 60_000 }, (q, _dir, clock) => {
  for (let i = 0; i < 3; i++) q.append(msg(i === 1 ? B : A, `old${i}`));
  clock.now += 30_000;
  q.append(msg(A, 'new0'));
  q.append(msg(B, 'new1'));
  clock.now += 40_000;
  assert.equal(q.stats().oldestAgeMs, 70_000);
  assert.deepEqual(texts(q, A), ['new0'], 'batch() expires first');
  const s = q.stats();
  assert.deepEqual({ droppedExpired: s.droppedExpired, depthMessages: s.depthMessages, oldestAgeMs: s.oldestAgeMs }, { droppedExpired: 3, depthMessages: 2, oldestAgeMs: 40_000 });
  clock.now += 30_000;
  assert.equal(q.expire(), 2);
  assert.equal(q.stats().oldestAgeMs, 0);
});

withQueue('peak depth: the largest backlog held and when, kept after it drains (an outage seen after the fact)', {}, (q, _dir, clock) => {
  assert.deepEqual(pick(q.stats()), { peakDepthMessages: 0, peakDepthAt: 0 });
  const seqs = [1, 2, 3].map((i) => q.append(msg(A, `m${i}`)) as number);
  const peakAt = clock.now;
  clock.now += 5000;
  assert.equal(q.ack('p', 'a', seqs[2]!), 3);
  q.append(msg(B, 'after'));
  clock.now += 5000;
  assert.deepEqual(pick(q.stats()), { peakDepthMessages: 3, peakDepthAt: peakAt }, 'the drain and a smaller backlog leave the peak');
  for (let i = 0; i < 3; i++) q.append(msg(B, `more${i}`));
  assert.deepEqual(pick(q.stats()), { peakDepthMessages: 4, peakDepthAt: clock.now });
});
const pick = (s: { peakDepthMessages: number; peakDepthAt: number }) => ({ peakDepthMessages: s.peakDepthMessages, peakDepthAt: s.peakDepthAt });

withQueue('route gone: its backlog is dropped and counted, other routes untouched', {}, (q) => {
  for (let i = 0; i < 4; i++) q.append(msg(i < 3 ? A : B, `m${i}`));
  assert.equal(q.dropRoute('p', 'a'), 3);
  assert.deepEqual(q.backlog(), [B]);
  assert.equal(q.stats().droppedRouteGone, 3);
  assert.deepEqual(texts(q, B), ['m3']);
});

withQueue('durable() commits at the end of this event-loop turn instead of waiting commitMs', { fsync: 'batch', commitMs: 10_000 }, async (q, dir) => {
  q.append(msg(A, '1'));
  const waiting = q.durable();
  q.append(msg(A, '2')); // same turn: rides in the same commit
  await waiting;
  const file = new Database(join(dir, 'uplink.db'), { readonly: true });
  try {
    assert.equal(file.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM messages').get()!.n, 2, 'both on disk, long before commitMs');
  } finally {
    file.close();
  }
});

withQueue('isResend: the last publish queued under a client and packet id, with the same topic and payload, pending or committed, across a reopen', { fsync: 'batch', commitMs: 10_000 }, (q0, dir) => {
  const origin = (packetId: number, text: string, client = 'p/d1') => ({ client, packetId, hash: Buffer.from(`t:${text}`) });
  q0.append({ ...msg(A, 'x'), origin: origin(1, 'x') });
  assert.equal(q0.isResend(origin(1, 'x')), true, 'found while its commit is pending');
  assert.equal(q0.isResend(origin(1, 'y')), false, 'another message under the same packet id');
  assert.equal(q0.isResend(origin(2, 'x')), false, 'another packet id');
  assert.equal(q0.isResend(origin(1, 'x', 'p/d2')), false, 'another device');
  q0.append({ ...msg(A, 'y'), origin: origin(1, 'y') });
  assert.equal(q0.isResend(origin(1, 'x')), false, 'superseded by a later publish under the id');
  q0.ack(A.project, A.route, Number.MAX_SAFE_INTEGER);
  q0.close();
  const q = UplinkQueue.open(dir, {});
  try {
    assert.equal(q.isResend(origin(1, 'y')), true, 'remembered after the message went up and the queue was reopened');
    assert.equal(q.stats().resends, 1);
  } finally {
    q.close();
  }
});

withQueue('resequence: a backlog behind what the center has seen moves past it, in order', {}, (q) => {
  const s0 = q.append(msg(A, 'm0')) as number;
  q.append(msg(B, 'x'));
  q.append(msg(A, 'm1'));
  assert.equal(q.resequence(A, s0), false, 'the queue handed out that seq itself');
  const seen = s0 + 1_000_000;
  assert.equal(q.resequence(A, seen), true);
  const batch = q.batch(A, 10, 1e9);
  assert.deepEqual(batch.map((m) => m.payload.toString()), ['m0', 'm1']);
  assert.deepEqual(batch.map((m) => m.seq), [seen + 1, seen + 2]);
  assert.ok((q.append(msg(B, 'y')) as number) > seen + 2);
  assert.equal(q.stats().depthMessages, 4);
});

withQueue('bad messages are refused with a reason', {}, (q) => {
  assert.throws(() => q.append({ ...A, topic: '', payload: Buffer.from('x'), qos: 0 }), /topic/);
  assert.throws(() => q.append({ ...A, topic: 't', device: 'Bad_Name', payload: Buffer.from('x'), qos: 0 }), /device name/);
  assert.throws(() => q.append({ ...A, topic: 't', payload: Buffer.alloc(1024 * 1024 + 1), qos: 0 }), /payload/);
  assert.equal(q.stats().enqueued, 0);
});
