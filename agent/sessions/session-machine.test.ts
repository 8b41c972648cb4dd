import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { created, handedOver, prepare, resolve, startAttempt, status, written, type Offer, type SessionRecord, type StatusAnswer } from './session-machine.ts';

/**
 * The hand-over protocol as the store and the gateway run it, between three
 * nodes over a network that delays, reorders, duplicates and loses
 * messages, with nodes that crash (losing what is not durable: a freeze)
 * and sources that give up on an attempt at any moment.
 */
type Message =
  | { t: 'pull'; from: number; to: number }
  | { t: 'offer'; from: number; to: number; offer: Offer }
  | { t: 'prepared'; from: number; to: number; attempt: number }
  | { t: 'committed'; from: number; to: number; attempt: number; epoch: number }
  | { t: 'ask'; from: number; to: number }
  | { t: 'answer'; from: number; to: number; answer: StatusAnswer };

type Action =
  | { t: 'write'; n: number }
  | { t: 'pull'; n: number; src: number }
  | { t: 'deliver' | 'drop' | 'dup'; i: number }
  | { t: 'abort' | 'crash' | 'ask'; n: number };

const NODES = 3;
const name = (n: number) => `node-${n}`;

class World {
  readonly records: (SessionRecord | undefined)[] = [created(), undefined, undefined];
  /** Volatile: the attempt a source is frozen for. */
  readonly frozen: ({ to: number; offer: Offer } | undefined)[] = [undefined, undefined, undefined];
  net: Message[] = [];
  acked = 0;

  owners(): number[] {
    return this.records.flatMap((r, n) => (r?.state === 'owned' ? [n] : []));
  }

  act(a: Action): void {
    switch (a.t) {
      case 'write': {
        const r = this.records[a.n];
        if (r?.state === 'owned' && !this.frozen[a.n]) {
          this.records[a.n] = written(r, { count: r.version + 1 });
          this.acked++;
        }
        return;
      }
      case 'pull':
        if (a.n !== a.src) this.net.push({ t: 'pull', from: a.n, to: a.src });
        return;
      case 'deliver':
      case 'drop':
      case 'dup': {
        if (!this.net.length) return;
        const i = a.i % this.net.length;
        const m = this.net[i]!;
        if (a.t !== 'dup') this.net.splice(i, 1);
        if (a.t !== 'drop') this.receive(m);
        return;
      }
      case 'abort':
      case 'crash':
        this.frozen[a.n] = undefined;
        return;
      case 'ask': {
        const r = this.records[a.n];
        if (r?.state === 'prepared') this.net.push({ t: 'ask', from: a.n, to: Number(r.from.slice(5)) });
        return;
      }
    }
  }

  private receive(m: Message): void {
    const here = m.to;
    const r = this.records[here];
    switch (m.t) {
      case 'pull': {
        if (r?.state !== 'owned' || this.frozen[here]) return;
        const { record, offer } = startAttempt(r);
        this.records[here] = record;
        this.frozen[here] = { to: m.from, offer };
        this.net.push({ t: 'offer', from: here, to: m.from, offer });
        return;
      }
      case 'offer': {
        const kept = prepare(r, name(m.from), m.offer);
        if (!kept) return;
        this.records[here] = kept;
        this.net.push({ t: 'prepared', from: here, to: m.from, attempt: m.offer.attempt });
        return;
      }
      case 'prepared': {
        const f = this.frozen[here];
        if (!f || f.to !== m.from || f.offer.attempt !== m.attempt) return;
        this.records[here] = handedOver(f.offer, name(m.from));
        this.frozen[here] = undefined;
        this.net.push({ t: 'committed', from: here, to: m.from, attempt: m.attempt, epoch: f.offer.epoch });
        return;
      }
      case 'committed':
        return this.learn(here, m.from, { state: 'moved', epoch: m.epoch, to: name(here), attempt: m.attempt });
      case 'ask':
        this.net.push({ t: 'answer', from: here, to: m.from, answer: status(r) });
        return;
      case 'answer':
        return this.learn(here, m.from, m.answer);
    }
  }

  private learn(here: number, from: number, a: StatusAnswer): void {
    const r = this.records[here];
    if (r?.state !== 'prepared' || r.from !== name(from)) return;
    const next = resolve(r, name(here), a);
    if (next !== 'wait') this.records[here] = next;
  }

  /** Every cut heals: messages flow, frozen sources give up, prepared targets ask, until nothing is in flight. */
  heal(): void {
    for (let round = 0; round < 20; round++) {
      while (this.net.length) this.receive(this.net.shift()!);
      this.frozen.fill(undefined);
      for (let n = 0; n < NODES; n++) this.act({ t: 'ask', n });
      if (!this.net.length) return;
    }
  }
}

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ t: fc.constant('write' as const), n: fc.nat(NODES - 1) }),
  fc.record({ t: fc.constant('pull' as const), n: fc.nat(NODES - 1), src: fc.nat(NODES - 1) }),
  fc.record({ t: fc.constantFrom('deliver' as const, 'deliver' as const, 'deliver' as const, 'drop' as const, 'dup' as const), i: fc.nat(20) }),
  fc.record({ t: fc.constantFrom('abort' as const, 'crash' as const, 'ask' as const), n: fc.nat(NODES - 1) }),
);

test('any interleaving of moves, losses, duplicates, crashes and cuts keeps at most one owner, and exactly one with every acknowledged write once the network heals', () => {
  fc.assert(
    fc.property(fc.array(action, { maxLength: 120 }), (actions) => {
      const w = new World();
      for (const a of actions) {
        w.act(a);
        const owners = w.owners();
        assert.ok(owners.length <= 1, `owners ${owners.join(',')} after ${JSON.stringify(a)}`);
        if (owners.length) assert.equal((w.records[owners[0]!] as { version: number }).version, w.acked, 'the owner holds every acknowledged write');
      }
      w.heal();
      const owners = w.owners();
      assert.equal(owners.length, 1, `exactly one owner after healing: ${JSON.stringify(w.records)}`);
      assert.equal((w.records[owners[0]!] as { version: number }).version, w.acked, 'with every acknowledged write');
      assert.ok(w.records.every((r) => r?.state !== 'prepared'), 'no copy is left in doubt');
    }),
    { numRuns: 3000 },
  );
});

test('a target owns the session only for the attempt the source handed over', () => {
  const source = created();
  const first = startAttempt(source);
  const second = startAttempt(first.record);
  const kept = prepare(undefined, 'a', second.offer)!;
  assert.equal(prepare(kept, 'a', first.offer), undefined, 'an older attempt does not replace a newer one');
  assert.deepEqual(resolve(kept, 'b', { state: 'moved', epoch: kept.epoch, to: 'b', attempt: second.offer.attempt }), { state: 'owned', epoch: 2, version: 0, data: {}, attempts: 0 });
  assert.equal(resolve(kept, 'b', { state: 'moved', epoch: kept.epoch, to: 'b', attempt: first.offer.attempt }), undefined, 'another attempt was handed over: not this copy');
  assert.equal(resolve(kept, 'b', { state: 'owned', epoch: 1 }), undefined, 'the source kept it: the copy goes');
  assert.equal(resolve(kept, 'b', { state: 'prepared', epoch: 1, from: 'c' }), 'wait');
  assert.equal(prepare({ state: 'owned', epoch: 1, version: 0, data: {}, attempts: 0 }, 'a', first.offer), undefined, 'an owner takes no offer');
  assert.equal(prepare(handedOver(first.offer, 'c'), 'a', first.offer), undefined, 'a node that handed that epoch on takes no stale offer');
});
