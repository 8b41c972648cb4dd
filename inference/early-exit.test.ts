import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { CutFormatError, decodeCut, encodeCut, ExitThreshold, fitTemperature, meanNll, normalizedEntropy, temperatureScale } from './early-exit.ts';

function softmax(z: number[], scale = 1): number[] {
  const m = Math.max(...z.map((v) => v * scale));
  const e = z.map((v) => Math.exp(v * scale - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe('exit confidence', () => {
  it('normalized entropy is 0 for a certain row, 1 for a uniform one, and grows as the row flattens', () => {
    assert.equal(normalizedEntropy([1, 0, 0, 0], 0, 4), 0);
    assert.ok(Math.abs(normalizedEntropy([0.25, 0.25, 0.25, 0.25], 0, 4) - 1) < 1e-12);
    assert.ok(normalizedEntropy([0.7, 0.1, 0.1, 0.1], 0, 4) < normalizedEntropy([0.4, 0.2, 0.2, 0.2], 0, 4));
    assert.equal(normalizedEntropy([9, 1, 0, 0, 0], 1, 4), 0, 'reads the row at its offset');
    assert.equal(normalizedEntropy([1], 0, 1), 0, 'one class is certain');
    assert.equal(normalizedEntropy([Number.NaN, 0.5], 0, 2), 1, 'a row that is not numbers is unsure');
  });

  it('temperature scaling keeps the answer and only changes how sure it is', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -8, max: 8, noNaN: true }), { minLength: 2, maxLength: 12 }), fc.double({ min: 0.1, max: 10, noNaN: true }), (z, tau) => {
        const p = softmax(z);
        const out = new Float64Array(p.length);
        temperatureScale(p, 0, p.length, tau, out);
        assert.ok(Math.abs(out.reduce((a, b) => a + b, 0) - 1) < 1e-9);
        const top = p.indexOf(Math.max(...p));
        assert.ok(out[top]! >= Math.max(...out) - 1e-12);
        const expected = softmax(z, 1 / tau);
        for (let i = 0; i < p.length; i++) assert.ok(Math.abs(out[i]! - expected[i]!) < 1e-6);
      }),
    );
  });

  it('fits the temperature that undoes an overconfident exit', () => {
    // The truth is softmax(z); the exit reports softmax(3z): overconfident by a temperature of 3.
    const next = rng(11);
    const classes = 10;
    const rows = 4000;
    const probs = new Float32Array(rows * classes);
    const labels = new Uint8Array(rows);
    for (let r = 0; r < rows; r++) {
      const z = Array.from({ length: classes }, () => next() * 4 - 2);
      const truth = softmax(z);
      let u = next();
      let label = 0;
      while (label < classes - 1 && (u -= truth[label]!) > 0) label++;
      labels[r] = label;
      probs.set(softmax(z, 3), r * classes);
    }
    const tau = fitTemperature(probs, labels, classes);
    assert.ok(tau > 2.6 && tau < 3.4, `fitted ${tau}`);
    assert.ok(meanNll(probs, labels, classes, tau) < meanNll(probs, labels, classes, 1));
  });
});

describe('cut tensor on the wire', () => {
  it('round-trips any batch within half a quantization step, deflated when that is smaller', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: 2 ** 31 }), (rows, width, seed) => {
        const next = rng(seed);
        const values = Float32Array.from({ length: rows * width }, () => (next() < 0.4 ? 0 : next() * 5));
        const wire = encodeCut(values, rows, width);
        const back = decodeCut(wire);
        assert.equal(back.rows, rows);
        assert.equal(back.width, width);
        const max = Math.max(...values);
        const step = max > 0 ? max / 255 : 1;
        for (let i = 0; i < values.length; i++) assert.ok(Math.abs(back.values[i]! - values[i]!) <= step / 2 + 1e-6);
        assert.ok(wire.length <= 16 + rows * width);
      }),
    );
    const zeros = encodeCut(new Float32Array(32 * 64), 32, 64);
    assert.ok(zeros.length < 100, `${zeros.length} bytes for 2048 zeros`);
  });

  it('refuses what it did not write, naming the fault, and cannot be made to allocate much', () => {
    const good = encodeCut(Float32Array.from({ length: 32 }, (_, i) => i), 1, 32);
    const bad = (mutate: (b: Buffer) => Buffer, fault: RegExp) => assert.throws(() => decodeCut(mutate(Buffer.from(good))), (e: unknown) => e instanceof CutFormatError && fault.test(e.message));
    bad((b) => b.subarray(0, 10), /no "GC" header/);
    bad((b) => (b.writeUInt16LE(0x1234, 0), b), /no "GC" header/);
    bad((b) => (b.writeUInt8(9, 2), b), /format 9 is not known/);
    bad((b) => (b.writeUInt8(0x80, 3), b), /unknown flags/);
    bad((b) => (b.writeFloatLE(Number.NaN, 12), b), /min or scale/);
    bad((b) => (b.writeFloatLE(-1, 12), b), /min or scale/);
    bad((b) => b.subarray(0, b.length - 1), /needs 32 values, the message holds 31/);
    bad((b) => (b.writeUInt16LE(0xffff, 4), b.writeUInt16LE(0xffff, 6), b), /larger than/);
    assert.throws(() => decodeCut(good, 31), (e: unknown) => e instanceof CutFormatError && /larger than 31 values/.test(e.message), 'the reader says how much it takes');
    // A deflate bomb: a few bytes that inflate to a megabyte, claiming 32 values.
    const bomb = Buffer.concat([good.subarray(0, 16), deflateRawSync(Buffer.alloc(1 << 20))]);
    bomb.writeUInt8(1, 3);
    assert.throws(() => decodeCut(bomb), (e: unknown) => e instanceof CutFormatError && /does not inflate to 32 bytes/.test(e.message));
    assert.throws(() => encodeCut(new Float32Array(3), 1, 4), RangeError);
    assert.throws(() => encodeCut(Float32Array.from([1, Number.NaN]), 1, 2), RangeError);
  });
});

describe('ExitThreshold', () => {
  const entropies = (n: number, seed: number) => {
    const next = rng(seed);
    return Array.from({ length: n }, () => next());
  };

  it('a fixed threshold stays where the operator put it', () => {
    const t = new ExitThreshold(0.3, { kind: 'fixed' });
    for (const e of entropies(1000, 1)) t.observe(e);
    assert.equal(t.value, 0.3);
    assert.throws(() => new ExitThreshold(1.5, { kind: 'fixed' }), RangeError);
  });

  it('holds the offloaded share to its bound, and never lowers the threshold below the base', () => {
    const t = new ExitThreshold(0.1, { kind: 'offload-share', max: 0.25 });
    let offloaded = 0;
    const seen = entropies(5000, 2);
    seen.forEach((e, i) => {
      if (i >= 1000 && e >= t.value) offloaded++;
      t.observe(e);
    });
    const share = offloaded / 4000;
    assert.ok(share > 0.2 && share < 0.3, `offloaded ${share}`);
    const loose = new ExitThreshold(0.9, { kind: 'offload-share', max: 0.5 });
    for (const e of seen) loose.observe(e);
    assert.equal(loose.value, 0.9, 'the budget allows more than the base offloads: the base stays');
  });

  it('turns an uplink budget into a share at the observed rate', () => {
    let now = 0;
    const t = new ExitThreshold(0, { kind: 'uplink-bytes', perSecond: 1000, bytesPerOffload: 50 }, 512, () => now);
    for (const e of entropies(1000, 3)) {
      t.observe(e);
      now += 10; // 100 inputs per second: 5,000 B/s if all went up
    }
    assert.ok(Math.abs(t.allowedShare() - 0.2) < 0.01, `share ${t.allowedShare()}`);
    assert.ok(Math.abs(t.value - 0.8) < 0.08, `threshold ${t.value} for uniform entropies`);
  });

  it('keeps T within [0, 1] whatever the entropies, and works it out once a batch', () => {
    const t = new ExitThreshold(0, { kind: 'offload-share', max: 0.1 });
    t.observeMany(Array.from({ length: 600 }, () => 1));
    assert.equal(t.value, 1);
    t.observeMany([Number.NaN, Number.POSITIVE_INFINITY, -3, 7]);
    assert.ok(t.value >= 0 && t.value <= 1, String(t.value));
  });

  it('turns a mean-latency bound into a share from the measured latencies', () => {
    const t = new ExitThreshold(0, { kind: 'latency', meanMs: 12 });
    assert.equal(t.allowedShare(), 1, 'nothing measured yet: no limit');
    for (let i = 0; i < 200; i++) t.observe(0.5, { offloaded: i % 2 === 0, ms: i % 2 === 0 ? 42 : 2 });
    // 2 + share * 40 <= 12
    assert.ok(Math.abs(t.allowedShare() - 0.25) < 0.01, `share ${t.allowedShare()}`);
  });
});
