import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatSelector, matchesSelector, parseSelector } from './selector.ts';
import { BadRequestError } from './errors.ts';

const labels = { app: 'web', tier: 'edge', 'gedge.io/zone': 'a-1', empty: '' };
const m = (sel: string, l: Record<string, string> = labels) => matchesSelector(parseSelector(sel), l);

test('= and == select an exact value, including the empty value', () => {
  assert.deepEqual(parseSelector('app=web'), [{ key: 'app', op: 'eq', value: 'web' }]);
  assert.deepEqual(parseSelector('app == web'), [{ key: 'app', op: 'eq', value: 'web' }]);
  assert.equal(m('app=web'), true);
  assert.equal(m('app==web'), true);
  assert.equal(m('app=db'), false);
  assert.equal(m('missing=web'), false);
  assert.equal(m('gedge.io/zone=a-1'), true);
  assert.equal(m('empty='), true);
  assert.equal(m('app='), false);
});

test('!= matches a different value or a missing key', () => {
  assert.deepEqual(parseSelector('app!=db'), [{ key: 'app', op: 'neq', value: 'db' }]);
  assert.equal(m('app!=db'), true);
  assert.equal(m('app!=web'), false);
  assert.equal(m('missing!=web'), true);
  assert.equal(m('empty!='), false);
});

test('a bare key requires it to exist; !key requires it to be absent', () => {
  assert.deepEqual(parseSelector('app'), [{ key: 'app', op: 'exists' }]);
  assert.deepEqual(parseSelector('!app'), [{ key: 'app', op: 'notexists' }]);
  assert.equal(m('app'), true);
  assert.equal(m('empty'), true, 'a key with an empty value exists');
  assert.equal(m('missing'), false);
  assert.equal(m('!missing'), true);
  assert.equal(m('!app'), false);
});

test('in and notin test set membership; notin also matches a missing key', () => {
  assert.deepEqual(parseSelector('tier in (edge, region)'), [{ key: 'tier', op: 'in', values: ['edge', 'region'] }]);
  assert.deepEqual(parseSelector('tier notin (cloud)'), [{ key: 'tier', op: 'notin', values: ['cloud'] }]);
  assert.equal(m('tier in (edge,region)'), true);
  assert.equal(m('tier in (cloud,region)'), false);
  assert.equal(m('missing in (edge)'), false);
  assert.equal(m('tier notin (cloud,region)'), true);
  assert.equal(m('tier notin (edge)'), false);
  assert.equal(m('missing notin (edge)'), true);
});

test('requirements are ANDed; commas inside parentheses do not split', () => {
  assert.deepEqual(parseSelector(' app=web , tier in (edge,region), !gone '), [
    { key: 'app', op: 'eq', value: 'web' },
    { key: 'tier', op: 'in', values: ['edge', 'region'] },
    { key: 'gone', op: 'notexists' },
  ]);
  assert.equal(m('app=web,tier in (edge,region),!gone'), true);
  assert.equal(m('app=web,tier in (cloud,region)'), false);
  assert.equal(m('app=web,tier=edge,gedge.io/zone'), true);
});

test('an empty selector matches everything, even no labels', () => {
  assert.deepEqual(parseSelector(''), []);
  assert.deepEqual(parseSelector('   '), []);
  assert.equal(m(''), true);
  assert.equal(matchesSelector(parseSelector(''), undefined), true);
  assert.equal(matchesSelector(parseSelector('!app'), undefined), true);
  assert.equal(matchesSelector(parseSelector('app'), undefined), false);
});

test('keys from Object.prototype are not mistaken for labels', () => {
  assert.equal(m('constructor'), false);
  assert.equal(m('!toString'), true);
  assert.equal(m('constructor=x', { constructor: 'x' }), true);
});

test('invalid selectors throw BadRequestError naming the selector', () => {
  for (const bad of ['a b', '=x', 'app=we b', 'app=-web', 'a=b,,c', 'a=b,', 'Bad Key=1', 'tier in (edge', 'tier in (ok, -bad)', '!', 'a/b/c=1', 'app=web!']) {
    assert.throws(
      () => parseSelector(bad),
      (e: unknown) => {
        assert.ok(e instanceof BadRequestError, `${bad}: ${String(e)}`);
        assert.equal(e.status, 400);
        assert.ok(e.message.includes(`"${bad}"`), `message names the selector: ${e.message}`);
        assert.equal(e.details[0]?.path, 'labelSelector');
        return true;
      },
      bad,
    );
  }
});

// Label keys and values as the resource schema allows them (core/resources.ts).
const keyArb = fc.stringMatching(/^([a-z0-9.-]{1,8}\/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,10}[A-Za-z0-9])?$/);
const valueArb = fc.stringMatching(/^([A-Za-z0-9]([A-Za-z0-9_.-]{0,10}[A-Za-z0-9])?)?$/);
const labelsArb = fc.dictionary(keyArb, valueArb, { minKeys: 1, maxKeys: 8 });

test('property: a formatted label map selects itself, and not a map missing any one of its keys', () => {
  fc.assert(
    fc.property(labelsArb, fc.nat(), (l, pick) => {
      const sel = parseSelector(formatSelector(l));
      assert.equal(sel.length, Object.keys(l).length);
      assert.equal(matchesSelector(sel, l), true);
      const keys = Object.keys(l);
      const dropped = keys[pick % keys.length]!;
      const without = Object.fromEntries(Object.entries(l).filter(([k]) => k !== dropped));
      assert.equal(matchesSelector(sel, without), false, `without ${dropped}`);
    }),
    { numRuns: 500 },
  );
});

test('property: a superset of the labels still matches; a changed value does not', () => {
  fc.assert(
    fc.property(labelsArb, keyArb, valueArb, fc.nat(), (l, extraKey, extraValue, pick) => {
      const sel = parseSelector(formatSelector(l));
      if (!(extraKey in l)) assert.equal(matchesSelector(sel, { ...l, [extraKey]: extraValue }), true);
      const keys = Object.keys(l);
      const k = keys[pick % keys.length]!;
      assert.equal(matchesSelector(sel, { ...l, [k]: `${l[k]}x` }), false);
    }),
    { numRuns: 500 },
  );
});
