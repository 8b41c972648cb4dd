import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { filterCovers, isValidFilter, isValidTopic, parseClientId, topicMatches } from './topics.ts';

/** The spec, level by level ([MQTT-4.7]), to check the single-pass matcher against. */
function reference(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if ((f[0] === '+' || f[0] === '#') && topic.startsWith('$')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

// Few distinct level values, so that generated filters and topics often meet.
const topicLevel = fc.constantFrom('a', 'b', 'ab', '', '$x');
const topicName = fc.array(topicLevel, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));
const filter = fc
  .tuple(fc.array(fc.constantFrom('a', 'b', 'ab', '', '+'), { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((f) => !f.startsWith('$'));
const singleHash = fc.constant('#');

test('topicMatches agrees with the level-by-level definition', () => {
  fc.assert(
    fc.property(fc.oneof(filter, singleHash), topicName, (f, t) => {
      assert.equal(topicMatches(f, t), reference(f, t), `${f} vs ${t}`);
    }),
    { numRuns: 20_000 },
  );
});

test('topicMatches reads a mounted topic from an offset', () => {
  fc.assert(
    fc.property(filter, topicName, (f, t) => {
      assert.equal(topicMatches(f, `proj/${t}`, 5), topicMatches(f, t));
    }),
  );
});

test('filterCovers is sound: whatever the inner filter matches, the outer one does', () => {
  fc.assert(
    fc.property(fc.oneof(filter, singleHash), fc.oneof(filter, singleHash), fc.array(topicName, { maxLength: 30 }), (outer, inner, topics) => {
      if (!filterCovers(outer, inner)) return;
      for (const t of topics) if (topicMatches(inner, t)) assert.ok(topicMatches(outer, t), `${outer} covers ${inner} but not ${t}`);
    }),
    { numRuns: 20_000 },
  );
});

test('filterCovers golden cases', () => {
  const cases: [string, string, boolean][] = [
    ['devices/d/#', 'devices/d/#', true],
    ['devices/d/#', 'devices/d', true],
    ['devices/d/#', 'devices/d/+/x', true],
    ['devices/d/#', 'devices/+/x', false],
    ['devices/d/#', '#', false],
    ['plant/+/temp', 'plant/1/temp', true],
    ['plant/+/temp', 'plant/+/temp', true],
    ['plant/+/temp', 'plant/#', false],
    ['plant/+', 'plant', false],
    ['#', 'anything/+/#', true],
  ];
  for (const [outer, inner, expected] of cases) assert.equal(filterCovers(outer, inner), expected, `${outer} covers ${inner}`);
});

test('valid filters and topic names', () => {
  for (const f of ['#', '+', 'a/+/b', 'a/#', '+/+', '/', 'a//b']) assert.ok(isValidFilter(f), f);
  for (const f of ['', '$SYS/#', 'a/#/b', 'a#', 'a/b+', '+a', 'a\u0000']) assert.ok(!isValidFilter(f), f);
  for (const t of ['a', 'a/b', '/a', 'a/']) assert.ok(isValidTopic(t), t);
  for (const t of ['', '$SYS/x', 'a/+', 'a/#', 'a\u0000']) assert.ok(!isValidTopic(t), t);
});

test('client ids name a device of a project, or of project default', () => {
  assert.deepEqual(parseClientId('acme/sensor-1'), { project: 'acme', device: 'sensor-1' });
  assert.deepEqual(parseClientId('lamp'), { project: 'default', device: 'lamp' });
  for (const bad of ['', 'a/b/c', 'Acme/x', '/x', 'x/', 'a b']) assert.equal(parseClientId(bad), null, bad);
});
