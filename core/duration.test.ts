import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { durationMs, formatDuration, parseDuration } from './duration.ts';

test('durations as Go writes them, with days; no bare numbers but 0', () => {
  const cases: [string, number | undefined][] = [
    ['90s', 90_000], ['1h30m', 5_400_000], ['500ms', 500], ['7d', 604_800_000], ['1.5s', 1500], ['2m3s4ms', 123_004], ['0', 0],
    ['', undefined], ['90', undefined], ['s', undefined], ['1x', undefined], ['-1s', undefined], ['1h 30m', undefined], ['soon', undefined],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('property: a duration written from its parts reads back as their sum', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(1000), fc.constantFrom('ms', 's', 'm', 'h', 'd')), { minLength: 1, maxLength: 5 }), (parts) => {
      const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
      assert.equal(parseDuration(parts.map(([n, u]) => `${n}${u}`).join('')), parts.reduce((sum, [n, u]) => sum + n * unit[u], 0));
    }),
  );
});

test('formatDuration writes the shortest text that reads back to the same milliseconds', () => {
  const cases: [number, string][] = [[0, '0s'], [500, '500ms'], [1500, '1s500ms'], [90_000, '1m30s'], [3_600_000, '1h'], [604_800_000, '7d'], [90_061_001, '1d1h1m1s1ms']];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
  fc.assert(fc.property(fc.nat(10 * 86_400_000), (ms) => assert.equal(parseDuration(formatDuration(ms)), ms)));
});

test('durationMs reads what a schema accepted and refuses what none would', () => {
  assert.equal(durationMs('1h30m'), 5_400_000);
  assert.throws(() => durationMs('1000'), /not a duration: "1000"/);
});
