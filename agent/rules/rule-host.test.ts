import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fill } from './actions.ts';

describe('action templates', () => {
  it('put row fields into a topic, and refuse a topic a field would bend', () => {
    assert.equal(fill('signals/{{light}}/set', { light: 'n-1' }), 'signals/n-1/set');
    assert.equal(fill('a/{{ x.y }}', { x: { y: 7 } }), 'a/7');
    assert.equal(fill('signals/{{light}}/set', {}), undefined, 'missing');
    for (const bad of ['a/b', '#', '+', '']) assert.equal(fill('signals/{{light}}/set', { light: bad }), undefined, JSON.stringify(bad));
  });

  it('put anything into a payload text', () => {
    assert.equal(fill('{"color":"red","q":{{q}},"o":{{o}}}', { q: 5, o: { a: 1 } }, true), '{"color":"red","q":5,"o":{"a":1}}');
    assert.equal(fill('<{{missing}}>', {}, true), '<>');
  });
});
