import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REDACTED, redactBody } from './secrets.ts';
import type { Route } from './resources.ts';

const route = (name: string): Route =>
  ({ apiVersion: 'gedge.io/v1', kind: 'Route', metadata: { name, project: 'p' }, spec: { topic: 't/#', sink: { type: 'mqtt', url: 'mqtt://127.0.0.1:1', topic: '{topic}', qos: 1, username: 'u', password: 'pw' } } }) as Route;
const password = (r: unknown) => ((r as Route).spec.sink as { password?: string }).password;

test('redactBody finds objects wherever a response holds them, and leaves the rest as it was', () => {
  const list = { apiVersion: 'gedge.io/v1', kind: 'List', revision: 3, items: [route('a'), route('b')] };
  const shown = redactBody(list) as typeof list;
  assert.deepEqual(shown.items.map(password), [REDACTED, REDACTED]);
  assert.equal(password(list.items[0]), 'pw', 'the stored object is not changed');
  assert.equal(password((redactBody({ action: 'updated', object: route('c') }) as { object: Route }).object), REDACTED);
  assert.equal(password(redactBody(route('d'))), REDACTED);
  assert.equal(password((redactBody([[route('e')]]) as Route[][])[0]![0]), REDACTED);
  const plain = { items: [{ kind: 'Event', metadata: { name: 'x' } }], n: 1, s: 'text', none: null };
  assert.equal(redactBody(plain), plain, 'nothing to redact: the same object back');
  const bytes = new Uint8Array([1, 2]);
  assert.equal(redactBody(bytes), bytes);
});
