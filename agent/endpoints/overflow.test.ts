import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { overflowSpecSchema } from '../../core/index.ts';
import { OVERFLOW_TICK_MS, OverflowGate, type OverflowSwitch, type Turn } from './overflow.ts';

/**
 * An edge instance that answers one request at a time (`serviceMs` each),
 * on a simulated clock stepped 1 ms at a time, behind a gate; requests
 * arrive at `rate(t)` a second, evenly. What the gate decided, what the edge
 * answered and how long each answer took.
 */
function simulate(spec: Record<string, unknown>, o: { serviceMs: number; rate: (t: number) => number; ms: number; canOverflow?: boolean }) {
  let now = 0;
  const gate = new OverflowGate(overflowSpecSchema.parse(spec), () => now);
  const queue: Turn[] = [];
  let busyUntil = 0;
  let serving: Turn | undefined;
  let owed = 0;
  const out = { switches: [] as (OverflowSwitch & { at: number })[], edge: [] as { at: number; ms: number }[], overflowed: [] as number[], admittedOver: 0 };
  for (now = 0; now < o.ms; now++) {
    owed += o.rate(now) / 1000;
    for (; owed >= 1; owed--) {
      const f = gate.figures(1);
      if (gate.admit(1, o.canOverflow ?? true) === 'overflow') out.overflowed.push(now);
      else {
        if ((o.canOverflow ?? true) && f.limit !== null && f.inFlight >= f.limit) out.admittedOver++;
        queue.push(gate.begin());
      }
    }
    if (serving && now >= busyUntil) {
      gate.answered(serving);
      out.edge.push({ at: now, ms: now - serving.start });
      serving = undefined;
    }
    if (!serving && queue.length) {
      serving = queue.shift()!;
      busyUntil = now + o.serviceMs;
    }
    if (now % OVERFLOW_TICK_MS === 0) {
      const s = gate.tick();
      if (s) out.switches.push({ ...s, at: now });
    }
  }
  return { ...out, gate };
}

const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(0.9 * xs.length) - 1] ?? 0;

test('an edge that keeps up within its SLA takes every request, with no limit', () => {
  const r = simulate({ tiers: ['region'], sla: '100ms' }, { serviceMs: 10, rate: () => 50, ms: 10_000 });
  assert.equal(r.overflowed.length, 0);
  assert.deepEqual(r.switches, []);
  const f = r.gate.figures(1);
  assert.equal(f.state, 'edge');
  assert.equal(f.limit, null);
  assert.ok(f.edge > 450);
});

test('a 3x load step past the SLA: within a second requests over the measured limit overflow, the edge answers within its SLA again, and the switch says why', () => {
  // 20 ms a request: the edge answers 50 a second. 40 a second, then 120 from t = 5 s.
  const r = simulate({ tiers: ['region'], sla: '200ms' }, { serviceMs: 20, rate: (t) => (t < 5000 ? 40 : 120), ms: 15_000 });
  assert.equal(r.overflowed.filter((t) => t < 5000).length, 0, 'nothing overflowed before the step');
  const first = r.overflowed[0]!;
  assert.ok(first >= 5000 && first < 6000, `first overflow ${first - 5000} ms after the step`);
  assert.equal(r.switches.length, 1);
  assert.equal(r.switches[0]!.to, 'overflowing');
  assert.match(r.switches[0]!.why, /requests in flight at the edge reached its measured limit of \d+, p90 \d+ ms at the edge; the SLA is 200 ms/);
  // Once adapted (from t = 8 s), the edge's answers are back within the SLA, and it still answers about its capacity.
  const late = r.edge.filter((a) => a.at >= 8000);
  assert.ok(p90(late.map((a) => a.ms)) <= 200, `p90 at the edge once adapted: ${p90(late.map((a) => a.ms))} ms`);
  assert.ok(late.length / 7 > 40, `the edge answers ${(late.length / 7).toFixed(1)} a second, near its 50`);
  const share = r.overflowed.filter((t) => t >= 8000).length / (7 * 120);
  assert.ok(share > 0.5 && share < 0.75, `about two thirds overflow: ${share.toFixed(2)}`);
  const f = r.gate.figures(1);
  assert.equal(f.state, 'overflowing');
  assert.ok(f.limit !== null && f.limit >= 1 && f.limit <= 10, `limit ${f.limit}`);
});

test('a request stuck at the edge past the SLA is a miss before it ends', () => {
  let now = 0;
  const gate = new OverflowGate(overflowSpecSchema.parse({ tiers: ['region'], sla: '100ms' }), () => now);
  const stuck = [gate.begin(), gate.begin(), gate.begin()];
  now = 250;
  gate.tick();
  assert.equal(gate.admit(1, true), 'overflow', 'the three stuck ones hold the edge: the next overflows');
  assert.ok(gate.figures(1).limit! <= 2);
  for (const t of stuck) gate.answered(t);
});

test('the state goes back to the edge only after hold with nothing overflowing, and a load that swings around the limit switches at most once each way per hold', () => {
  // Load alternating each 700 ms between 30 and 90 a second against a capacity of 50.
  const r = simulate({ tiers: ['region'], sla: '200ms', hold: '5s' }, { serviceMs: 20, rate: (t) => (t < 20_000 ? (Math.floor(t / 700) % 2 ? 90 : 30) : 20), ms: 40_000 });
  assert.ok(r.switches.length >= 1);
  assert.ok(r.switches.length <= 2 * Math.ceil(40_000 / 5000), `${r.switches.length} switches in 40 s`);
  for (let i = 1; i < r.switches.length; i++) assert.notEqual(r.switches[i]!.to, r.switches[i - 1]!.to, 'the state alternates');
  const back = r.switches.at(-1)!;
  assert.equal(back.to, 'edge', 'back at the edge once the load fell');
  assert.match(back.why, /nothing overflowed for 5s and the edge keeps up: p90 \d+ ms \(within 90% of the SLA 200 ms\)/);
  const lastOverflow = r.overflowed.at(-1)!;
  assert.ok(back.at - lastOverflow >= 5000, 'not before hold');
  assert.equal(r.overflowed.filter((t) => t > back.at).length, 0, 'nothing overflows after');
});

test('a planned maxInFlight per edge instance is a fixed limit, without an SLA', () => {
  let now = 0;
  const gate = new OverflowGate(overflowSpecSchema.parse({ tiers: ['cloud'], maxInFlight: 2 }), () => now);
  const open = [gate.begin(), gate.begin(), gate.begin(), gate.begin()];
  assert.equal(gate.admit(2, true), 'overflow', '4 in flight at 2 instances of 2 each');
  assert.equal(gate.admit(3, true), 'edge', 'a third instance makes room for 6');
  now = 250;
  assert.match(gate.tick()!.why, /reached its planned limit of 4$/);
  for (const t of open) gate.answered(t);
  now = 4750;
  assert.equal(gate.tick(), undefined, 'not before hold: 5 s from the last overflow');
  now = 5000;
  assert.deepEqual(gate.tick()?.to, 'edge');
  assert.equal(gate.figures(2).limit, 4);
});

test('with nowhere to overflow to, every request stays at the edge and the state with it', () => {
  const r = simulate({ tiers: ['region'], sla: '100ms' }, { serviceMs: 20, rate: () => 120, ms: 5000, canOverflow: false });
  assert.equal(r.overflowed.length, 0);
  assert.deepEqual(r.switches, []);
});

test('the spec is refused without an sla or a maxInFlight, with a tier named twice, or an edge tier', () => {
  for (const bad of [{ tiers: ['region'] }, { tiers: ['region', 'region'], sla: '1s' }, { tiers: ['edge'], sla: '1s' }, { tiers: [], sla: '1s' }, { tiers: ['region'], sla: '0ms' }, { tiers: ['region'], sla: '1s', hold: '1ms' }]) {
    assert.equal(overflowSpecSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

test('property: whatever the load, the state alternates, returns to the edge no sooner than hold after it left, and nothing is let in at the edge past its limit', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 4, maxLength: 30 }), fc.integer({ min: 5, max: 40 }), fc.constantFrom('1s', '3s'), (rates, serviceMs, hold) => {
      const ms = rates.length * 500;
      const r = simulate({ tiers: ['region'], sla: '150ms', hold }, { serviceMs, rate: (t) => rates[Math.floor(t / 500)]!, ms });
      for (let i = 1; i < r.switches.length; i++) if (r.switches[i]!.to === r.switches[i - 1]!.to) return false;
      const holdMs = hold === '1s' ? 1000 : 3000;
      // Each return to the edge comes at least hold after the switch to overflowing before it.
      for (let i = 1; i < r.switches.length; i++) if (r.switches[i]!.to === 'edge' && r.switches[i]!.at - r.switches[i - 1]!.at < holdMs) return false;
        // Nothing is let in at the edge while its limit is reached.
      return r.admittedOver === 0;
    }),
    { numRuns: 200 },
  );
});
