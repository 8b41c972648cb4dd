import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseDuration } from './duration.ts';

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
