import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { advance, confirmed, created, fenced, handedOver, onPrepared, prepare, resolve, startAttempt, status, written, type Change, type Offer, type SessionRecord, type StatusAnswer } from './session-machine.ts';

/**
 * The hand-over protocol as the store and the gateway run it, between three
 * nodes over a network that delays, reorders, duplicates and loses
 * messages, with writes at any time and nodes that crash (losing what is
 * not durable: a copy being kept up to date, a conversation).
 */
type Message =
  | { t: 'pull'; from: number; to: number }
  | { t: 'offer'; from: number; to: number; offer: Offer }
  | { t: 'change'; from: number; to: number; change: Change }
  | { t: 'prepared'; from: number; to: number; attempt: number; epoch: number; version: number }
  | { t: 'committed'; from: number; to: number; attempt: number; epoch: number; version: number }
  | { t: 'ack'; from: number; to: number; attempt: number }
  | { t: 'ask'; from: number; to: number }
  | { t: 'answer'; from: number; to: number; answer: StatusAnswer };

type Action =
  | { t: 'write'; n: number }
  | { t: 'pull'; n: number; src: number }
  | { t: 'commit'; n: number; src: number }
  | { t: 'deliver' | 'drop' | 'dup'; i: number }
  | { t: 'crash' | 'ask'; n: number };

const NODES = 3;
const name = (n: number) => `node-${n}`;
const numberOf = (node: string) => Number(node.slice(5));

class World {
  readonly records: (SessionRecord | undefined)[] = [created(), undefined, undefined];
  // Volatile, per node: the target a source sends its writes to, a target's copies (by source) and the sources it is committing with.
  readonly follower: ({ to: number; attempt: number } | undefined)[] = [undefined, undefined, undefined];
  readonly copies: Map<number, Offer>[] = [new Map(), new Map(), new Map()];
  readonly committing: Set<number>[] = [new Set(), new Set(), new Set()];
  net: Message[] = [];
  acked = 0;

  owners(): number[] {
    return this.records.flatMap((r, n) => (r?.state === 'owned' ? [n] : []));
  }

  act(a: Action): void {
    switch (a.t) {
      case 'write': {
        const r = this.records[a.n];
        if (r?.state !== 'owned') return;
        const next = written(r, { count: r.version + 1 });
        this.records[a.n] = next;
        this.acked++;
        const f = this.follower[a.n];
        if (f && f.attempt === next.attempts) this.net.push({ t: 'change', from: a.n, to: f.to, change: { attempt: f.attempt, version: next.version, data: next.data } });
        return;
      }
      case 'pull':
        if (a.n !== a.src) this.net.push({ t: 'pull', from: a.n, to: a.src });
        return;
      case 'commit':
        // The client is at n: commit with what it holds of src's session.
        this.committing[a.n]!.add(a.src);
        return this.sendPrepared(a.n, a.src);
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
      case 'crash':
        this.follower[a.n] = undefined;
        this.copies[a.n]!.clear();
        this.committing[a.n]!.clear();
        return;
      case 'ask': {
        const r = this.records[a.n];
        if (r?.state === 'prepared') this.net.push({ t: 'ask', from: a.n, to: numberOf(r.from) });
        return;
      }
    }
  }

  /** The target writes its copy down, then says which version it holds. */
  private sendPrepared(here: number, src: number): void {
    const copy = this.copies[here]!.get(src);
    if (!copy) return;
    const kept = prepare(this.records[here], name(src), copy);
    if (!kept) return;
    this.records[here] = kept;
    this.net.push({ t: 'prepared', from: here, to: src, attempt: copy.attempt, epoch: copy.epoch, version: copy.version });
  }

  private offer(here: number, to: number): void {
    const r = this.records[here] as SessionRecord & { state: 'owned' };
    const { record, offer } = startAttempt(r);
    this.records[here] = record;
    this.follower[here] = { to, attempt: offer.attempt };
    this.net.push({ t: 'offer', from: here, to, offer });
  }

  private receive(m: Message): void {
    const here = m.to;
    const r = this.records[here];
    switch (m.t) {
      case 'pull':
        if (r?.state === 'owned') this.offer(here, m.from);
        return;
      case 'offer': {
        const had = this.copies[here]!.get(m.from);
        if (had && had.attempt >= m.offer.attempt) return;
        this.copies[here]!.set(m.from, m.offer);
        if (this.committing[here]!.has(m.from)) this.sendPrepared(here, m.from);
        return;
      }
      case 'change': {
        const copy = this.copies[here]!.get(m.from);
        const next = copy && advance(copy, m.change);
        if (!next) return;
        this.copies[here]!.set(m.from, next);
        // Committing: says again which version it holds now.
        if (this.committing[here]!.has(m.from)) this.sendPrepared(here, m.from);
        return;
      }
      case 'prepared': {
        if (onPrepared(r, m) !== 'hand-over') return;
        const owned = r as SessionRecord & { state: 'owned' };
        this.records[here] = handedOver(owned, name(m.from));
        this.follower[here] = undefined;
        // After every change already sent: the target has them all when this arrives, on a link that keeps order.
        this.net.push({ t: 'committed', from: here, to: m.from, attempt: m.attempt, epoch: owned.epoch + 1, version: owned.version });
        return;
      }
      case 'committed': {
        const copy = this.copies[here]!.get(m.from);
        if (copy?.attempt === m.attempt && copy.version === m.version) this.learn(here, m.from, { state: 'moved', epoch: m.epoch, to: name(here), attempt: m.attempt, version: m.version, data: copy.data });
        return;
      }
      case 'ack':
        if (r?.state === 'moved' && r.to === name(m.from) && r.attempt === m.attempt) this.records[here] = confirmed(r);
        return;
      case 'ask':
        if (r?.state === 'owned') {
          this.records[here] = fenced(r);
          this.follower[here] = undefined;
        }
        this.net.push({ t: 'answer', from: here, to: m.from, answer: status(this.records[here], name(m.from)) });
        return;
      case 'answer':
        return this.learn(here, m.from, m.answer);
    }
  }

  private learn(here: number, from: number, a: StatusAnswer): void {
    const r = this.records[here];
    if (r?.state !== 'prepared' || r.from !== name(from)) return;
    const next = resolve(r, name(here), a);
    if (next === 'wait') return;
    this.records[here] = next;
    // Owned now (durably): the source may forget the document it kept.
    if (next?.state === 'owned') this.net.push({ t: 'ack', from: here, to: from, attempt: r.attempt });
  }

  /** Every cut heals: messages flow, prepared targets ask, until nothing is in flight. */
  heal(): void {
    for (let round = 0; round < 20; round++) {
      while (this.net.length) this.receive(this.net.shift()!);
      for (let n = 0; n < NODES; n++) this.act({ t: 'ask', n });
      if (!this.net.length) return;
    }
  }
}

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ t: fc.constant('write' as const), n: fc.nat(NODES - 1) }),
  fc.record({ t: fc.constantFrom('pull' as const, 'commit' as const), n: fc.nat(NODES - 1), src: fc.nat(NODES - 1) }),
  fc.record({ t: fc.constantFrom('deliver' as const, 'deliver' as const, 'deliver' as const, 'drop' as const, 'dup' as const), i: fc.nat(20) }),
  fc.record({ t: fc.constantFrom('crash' as const, 'ask' as const), n: fc.nat(NODES - 1) }),
);

test('any interleaving of moves, losses, duplicates, crashes and cuts keeps at most one owner, and exactly one with every acknowledged write once the network heals', () => {
  fc.assert(
    fc.property(fc.array(action, { minLength: 20, maxLength: 200, size: 'max' }), (actions) => {
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
    { numRuns: 5000 },
  );
});

test('a target owns the session only for the attempt the source handed over, at the version the source had', () => {
  const source = created();
  const first = startAttempt(source);
  const second = startAttempt(first.record);
  const kept = prepare(undefined, 'a', second.offer)!;
  assert.equal(prepare(kept, 'a', first.offer), undefined, 'an older attempt does not replace a newer one');
  assert.equal(prepare(kept, 'a', second.offer), undefined, 'nor the same one at the same version');
  assert.equal(prepare(prepare(kept, 'a', { ...second.offer, version: 1 })!, 'a', second.offer), undefined, 'nor at an older version (a duplicate would take it back)');
  assert.equal(prepare(kept, 'a', { ...second.offer, version: 1 })?.version, 1, 'the same attempt further along replaces it');
  const moved = (attempt: number, version: number, data?: Record<string, unknown>) => ({ state: 'moved' as const, epoch: kept.epoch, to: 'b', attempt, version, ...(data ? { data } : {}) });
  assert.deepEqual(resolve(kept, 'b', moved(second.offer.attempt, 0)), { state: 'owned', epoch: 2, version: 0, data: {}, attempts: 0 });
  assert.deepEqual(resolve(kept, 'b', moved(second.offer.attempt, 2, { n: 2 })), { state: 'owned', epoch: 2, version: 2, data: { n: 2 }, attempts: 0 }, 'writes it missed come with the answer');
  assert.equal(resolve(kept, 'b', moved(second.offer.attempt, 2)), 'wait', 'missing writes and no document: not yet');
  assert.equal(resolve(kept, 'b', moved(first.offer.attempt, 0)), undefined, 'another attempt was handed over: not this copy');
  assert.equal(resolve(kept, 'b', { state: 'owned', epoch: 1, attempts: 2 }), 'wait', 'the source owns it but may still hand this attempt over: not yet');
  assert.equal(resolve(kept, 'b', { state: 'owned', epoch: 1, attempts: 3 }), undefined, 'the source kept it and fenced the attempt: the copy goes');
  assert.equal(resolve(kept, 'b', { state: 'prepared', epoch: 1, from: 'c' }), 'wait');
  assert.equal(prepare({ state: 'owned', epoch: 1, version: 0, data: {}, attempts: 0 }, 'a', first.offer), undefined, 'an owner takes no offer');
  assert.equal(prepare(handedOver(second.record, 'c'), 'a', first.offer), undefined, 'a node that handed that epoch on takes no stale offer');
  // Changes apply in order, to their own attempt only.
  const w = written(second.record, { n: 1 });
  assert.deepEqual(advance(second.offer, { attempt: second.offer.attempt, version: 1, data: { n: 1 } }), { ...second.offer, version: 1, data: { n: 1 } });
  assert.equal(advance(second.offer, { attempt: second.offer.attempt, version: 2, data: {} }), undefined, 'a gap');
  assert.equal(advance(second.offer, { attempt: first.offer.attempt, version: 1, data: {} }), undefined, 'another attempt');
  assert.equal(onPrepared(w, { attempt: second.offer.attempt, epoch: 2, version: 1 }), 'hand-over');
  assert.equal(onPrepared(w, { attempt: second.offer.attempt, epoch: 2, version: 0 }), 'hand-over', 'a write on its way to the target goes with the commit');
  assert.equal(onPrepared(w, { attempt: first.offer.attempt, epoch: 2, version: 1 }), 'stale');
  // A session ended and started again: a copy of its former self, same attempt number, is not this session's.
  const reborn = startAttempt(created(Date.now())).record;
  assert.equal(onPrepared(reborn, { attempt: 1, epoch: 2, version: 0 }), 'stale');
  assert.equal(onPrepared(reborn, { attempt: 1, epoch: reborn.epoch + 1, version: 0 }), 'hand-over');
  // The document kept with the hand-over goes only to its target, and only until it confirms.
  const out = handedOver(w, 'b');
  assert.deepEqual(status(out, 'b'), { state: 'moved', epoch: 2, to: 'b', attempt: second.offer.attempt, version: 1, data: { n: 1 } });
  assert.equal('data' in status(out, 'c'), false);
  assert.equal('data' in status(confirmed(out), 'b'), false);
});
