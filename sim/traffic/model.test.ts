import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { APPROACHES, GREEN_MAX_MS, GREEN_MIN_MS, IntersectionModel, axisOf, defaultGreenMs, defaultModelConfig, demandFactor, type Approach, type ModelConfig, type SignalCommand } from './model.ts';
import { mulberry32, poisson, streamSeed } from './rng.ts';

const model = (over: Partial<ModelConfig> = {}): IntersectionModel => new IntersectionModel({ ...defaultModelConfig(over.seed ?? 1), ...over });
const approach = fc.constantFrom<Approach>(...APPROACHES);
const steps = fc.array(fc.integer({ min: 1, max: 7_000 }), { minLength: 1, maxLength: 60 });
const command: fc.Arbitrary<SignalCommand> = fc.record({ greenNsMs: fc.integer({ min: -10_000, max: 200_000 }), greenEwMs: fc.integer({ min: -10_000, max: 200_000 }), phase: fc.constantFrom('NS' as const, 'EW' as const) }, { requiredKeys: [] });

/** Sample times where two runs are compared. */
const grid = (endMs: number, everyMs: number): number[] => Array.from({ length: Math.floor(endMs / everyMs) }, (_, k) => (k + 1) * everyMs);

describe('traffic model', () => {
  it('conserves vehicles and never lets a queue go negative, whatever the steps, commands and incidents', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 7_000 }), fc.option(command)), { minLength: 1, maxLength: 60 }),
        fc.array(fc.record({ approach, startMs: fc.nat(100_000), durationMs: fc.integer({ min: 1, max: 100_000 }) }), { maxLength: 3 }),
        (seed, baseRate, plan, incidents) => {
          const m = model({ seed, baseRate, incidents, initialQueues: { n: 3, w: 7 } });
          let t = 0;
          for (const [dt, cmd] of plan) {
            t += dt;
            m.advanceTo(t);
            if (cmd) m.command(cmd);
            for (const a of APPROACHES) {
              const s = m.approach(a);
              assert.ok(s.queue >= 0 && Number.isInteger(s.queue), `queue ${a} = ${s.queue}`);
              assert.equal(s.arrived, s.departed + s.queue, `conservation on ${a}`);
            }
          }
        },
      ),
    );
  });

  it('is deterministic: the same seed gives the same traffic, however the time is stepped', () => {
    fc.assert(
      fc.property(fc.integer(), steps, (seed, dts) => {
        const total = dts.reduce((a, b) => a + b, 0);
        const stepped = model({ seed, baseRate: 0.4 });
        let t = 0;
        for (const dt of dts) stepped.advanceTo((t += dt));
        const once = model({ seed, baseRate: 0.4 });
        once.advanceTo(total);
        for (const a of APPROACHES) assert.deepEqual(stepped.approach(a), once.approach(a));
        assert.deepEqual(stepped.signal(), once.signal());
      }),
    );
    const a = model({ seed: 7 });
    const b = model({ seed: 7 });
    const c = model({ seed: 8 });
    for (const m of [a, b, c]) m.advanceTo(600_000);
    assert.deepEqual(a.queues(), b.queues());
    assert.deepEqual(APPROACHES.map((x) => a.approach(x).arrived), APPROACHES.map((x) => b.approach(x).arrived));
    assert.notDeepEqual(APPROACHES.map((x) => a.approach(x).arrived), APPROACHES.map((x) => c.approach(x).arrived));
  });

  it('rush hours raise arrivals over the calm hours', () => {
    assert.ok(demandFactor(0.3, 3) > 2.9 && demandFactor(0.7, 3) > 2.9, 'peaks');
    assert.ok(demandFactor(0, 3) < 1.05 && demandFactor(0.5, 3) < 1.05, 'calm');
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        // Over 10 compressed days of 120 s, count arrivals in 12 s around the morning rush and in 12 s of calm midday.
        const m = model({ seed });
        const arrived = (): number => APPROACHES.reduce((n, a) => n + m.approach(a).arrived, 0);
        let rush = 0;
        let calm = 0;
        for (let day = 0; day < 10; day++) {
          const at = (f: number): number => day * 120_000 + f * 120_000;
          m.advanceTo(at(0.25));
          let before = arrived();
          m.advanceTo(at(0.35));
          rush += arrived() - before;
          m.advanceTo(at(0.45));
          before = arrived();
          m.advanceTo(at(0.55));
          calm += arrived() - before;
        }
        assert.ok(rush > 1.5 * calm, `rush ${rush} vs calm ${calm}`);
      }),
      { numRuns: 30 },
    );
  });

  it('an incident grows its approach queue against the same run without it, and leaves the others alone', () => {
    fc.assert(
      fc.property(fc.integer(), approach, fc.nat(60_000), fc.integer({ min: 30_000, max: 90_000 }), fc.double({ min: 0.05, max: 1, noNaN: true }), (seed, a, startMs, durationMs, baseRate) => {
        const plain = model({ seed, baseRate });
        const hit = model({ seed, baseRate, incidents: [{ approach: a, startMs, durationMs }] });
        for (const t of grid(startMs + durationMs + 60_000, 500)) {
          plain.advanceTo(t);
          hit.advanceTo(t);
          assert.ok(hit.approach(a).queue >= plain.approach(a).queue, `at ${t} ms: ${hit.approach(a).queue} < ${plain.approach(a).queue}`);
          for (const other of APPROACHES.filter((x) => x !== a)) assert.deepEqual(hit.approach(other), plain.approach(other));
          assert.deepEqual(hit.approach(a).arrived, plain.approach(a).arrived);
        }
      }),
      { numRuns: 60 },
    );
    // Heavy demand: one lane cannot keep up, so the queue is strictly longer when the incident ends.
    fc.assert(
      fc.property(fc.integer(), approach, (seed, a) => {
        const plain = model({ seed, baseRate: 0.5 });
        const hit = model({ seed, baseRate: 0.5, incidents: [{ approach: a, startMs: 10_000, durationMs: 60_000 }] });
        plain.advanceTo(70_000);
        hit.advanceTo(70_000);
        assert.ok(hit.approach(a).queue > plain.approach(a).queue, `${hit.approach(a).queue} vs ${plain.approach(a).queue}`);
      }),
      { numRuns: 30 },
    );
  });

  it('an incident slows the traffic its loop detector measures', () => {
    const plain = model({ seed: 3, baseRate: 0 });
    const hit = model({ seed: 3, baseRate: 0, incidents: [{ approach: 'e', startMs: 0, durationMs: 60_000 }] });
    plain.advanceTo(1000);
    hit.advanceTo(1000);
    assert.ok(hit.readLoop('e').speedKmh < 0.5 * plain.readLoop('e').speedKmh);
  });

  it('a longer green on an axis drains its queues faster', () => {
    fc.assert(
      fc.property(fc.integer({ min: GREEN_MIN_MS, max: GREEN_MAX_MS }), fc.integer({ min: 1, max: 60_000 }), fc.integer({ min: GREEN_MIN_MS, max: GREEN_MAX_MS }), fc.integer({ min: 10, max: 200 }), (shortMs, extraMs, ewMs, q) => {
        const longMs = Math.min(GREEN_MAX_MS, shortMs + extraMs);
        const queued = { n: q, e: q, s: q, w: q };
        const short = model({ baseRate: 0, initialQueues: queued, greenNsMs: shortMs, greenEwMs: ewMs });
        const long = model({ baseRate: 0, initialQueues: queued, greenNsMs: longMs, greenEwMs: ewMs });
        for (const t of grid(400_000, 1000)) {
          short.advanceTo(t);
          long.advanceTo(t);
          for (const a of APPROACHES.filter((x) => axisOf(x) === 'NS')) assert.ok(long.approach(a).queue <= short.approach(a).queue, `${a} at ${t}`);
        }
      }),
      { numRuns: 60 },
    );
    // The same through a command: 60 s of NS green from the start empties a queue that 20 s cannot.
    const cmd = model({ baseRate: 0, initialQueues: { n: 50 } });
    const fixed = model({ baseRate: 0, initialQueues: { n: 50 } });
    cmd.command({ greenNsMs: 60_000 });
    cmd.advanceTo(55_000);
    fixed.advanceTo(55_000);
    assert.equal(cmd.approach('n').queue, 0);
    assert.equal(fixed.approach('n').queue, 16); // 20 s + 15 s of green: a slot every 2 s on each of 2 lanes, 17 x 2
  });

  it('departs only on green, at the saturation flow of the open lanes', () => {
    const m = model({ baseRate: 0, initialQueues: { n: 100, e: 100 } });
    m.advanceTo(10_000); // NS green
    assert.equal(m.approach('n').departed, 10);
    assert.equal(m.approach('e').departed, 0);
    m.advanceTo(30_000); // 20 s NS, then 10 s EW
    assert.equal(m.approach('n').departed, 20);
    assert.equal(m.approach('e').departed, 10);
    assert.equal(m.signal().phase, 'EW');
  });

  it('starts its signal cycle at the offset it is given', () => {
    const m = model({ baseRate: 0, initialQueues: { n: 100, e: 100 }, signalOffsetMs: 25_000 });
    assert.deepEqual(m.signal(), { phase: 'EW', greenNsMs: 20_000, greenEwMs: 20_000, phaseElapsedMs: 5_000 });
    m.advanceTo(15_000); // the rest of the EW green
    assert.equal(m.approach('e').departed, 14); // 15 s of green: 7 slots on each of 2 lanes
    assert.equal(m.signal().phase, 'NS');
    assert.equal(model({ signalOffsetMs: 45_000 }).signal().phaseElapsedMs, 5_000);
  });

  it('clamps green times out of bounds and counts the commands it clamped', () => {
    fc.assert(
      fc.property(command, (c) => {
        const m = model();
        const r = m.command(c);
        const s = m.signal();
        for (const [k, v] of [['greenNsMs', s.greenNsMs], ['greenEwMs', s.greenEwMs]] as const) {
          assert.ok(v >= GREEN_MIN_MS && v <= GREEN_MAX_MS);
          if (c[k] !== undefined) assert.equal(v, Math.min(GREEN_MAX_MS, Math.max(GREEN_MIN_MS, c[k])));
        }
        const out = [c.greenNsMs, c.greenEwMs].some((v) => v !== undefined && (v < GREEN_MIN_MS || v > GREEN_MAX_MS));
        assert.equal(r.clamped, out);
        assert.equal(m.clamped, out ? 1 : 0);
      }),
    );
    const m = model();
    assert.equal(m.signal().greenNsMs, defaultGreenMs(120_000));
    assert.equal(defaultGreenMs(120_000), 20_000);
    m.advanceTo(8_000);
    assert.deepEqual(m.command({ greenNsMs: 6_000 }), { clamped: false, changed: true });
    assert.equal(m.signal().phase, 'EW', 'a green shortened below the time spent ends at once');
    assert.deepEqual(m.command({ phase: 'NS' }), { clamped: false, changed: true });
    assert.equal(m.signal().phaseElapsedMs, 0);
    assert.deepEqual(m.command({ phase: 'NS' }), { clamped: false, changed: false });
  });

  it('loop readings count the vehicles that crossed since the last reading', () => {
    fc.assert(
      fc.property(fc.integer(), steps, (seed, dts) => {
        const m = model({ seed, baseRate: 0.5 });
        let t = 0;
        const counted: Record<Approach, number> = { n: 0, e: 0, s: 0, w: 0 };
        for (const dt of dts) {
          m.advanceTo((t += dt));
          for (const a of APPROACHES) {
            const r = m.readLoop(a);
            counted[a] += r.count;
            assert.ok(r.occupancy >= 0 && r.occupancy <= 1 && r.speedKmh > 0);
            assert.equal(r.queue, m.approach(a).queue);
          }
        }
        for (const a of APPROACHES) assert.equal(counted[a], m.approach(a).departed);
      }),
    );
  });
});

describe('random streams', () => {
  it('are reproducible and distinct per key', () => {
    const a = mulberry32(streamSeed(1, 'x', 'n'));
    const b = mulberry32(streamSeed(1, 'x', 'n'));
    const c = mulberry32(streamSeed(1, 'x', 'e'));
    const xs = Array.from({ length: 5 }, a);
    assert.deepEqual(xs, Array.from({ length: 5 }, b));
    assert.notDeepEqual(xs, Array.from({ length: 5 }, c));
    assert.ok(xs.every((x) => x >= 0 && x < 1));
  });

  it('draw Poisson counts with the right mean, also for large means', () => {
    for (const mean of [0.05, 3, 80]) {
      const rng = mulberry32(42);
      const n = 20_000;
      let sum = 0;
      for (let i = 0; i < n; i++) sum += poisson(rng, mean);
      assert.ok(Math.abs(sum / n - mean) < 0.05 * mean + 0.01, `mean ${mean}: got ${sum / n}`);
    }
    assert.equal(poisson(mulberry32(1), 0), 0);
  });
});
