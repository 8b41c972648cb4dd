import assert from 'node:assert/strict';
import { test } from 'node:test';
import { customColumns, jsonpathTemplate } from './templates.ts';

const list = {
  kind: 'List',
  items: [
    { metadata: { name: 'a', labels: { app: 'web' } }, spec: { replicas: 2, ports: [80, 443] }, status: { phase: 'Running' } },
    { metadata: { name: 'b', labels: {} }, spec: { replicas: 1 }, status: { phase: 'Pending' } },
  ],
};

test('jsonpath templates: paths, wildcards, filters, ranges and literals, as kubectl prints them', () => {
  const t = (s: string) => jsonpathTemplate(s)(list);
  assert.equal(t('{.items[*].metadata.name}'), 'a b');
  assert.equal(t('{.items[0].spec.replicas}'), '2', 'numbers as text');
  assert.equal(t('{.items[0].spec.ports}'), '[80,443]', 'arrays and objects as JSON');
  assert.equal(t('{.items[?(@.status.phase=="Running")].metadata.name}'), 'a');
  assert.equal(t('{range .items[*]}{.metadata.name}:{@.spec.replicas}{"\\n"}{end}'), 'a:2\nb:1\n');
  assert.equal(t('names: {.items[*].metadata.name} ({.kind})'), 'names: a b (List)');
  assert.equal(t('{.items[1].metadata.labels.app}|'), '|', 'nothing found prints nothing');
  assert.equal(t('{.items[?(@.metadata.name=="}")].metadata.name}'), '', 'a brace inside quotes does not close the expression');
  assert.equal(jsonpathTemplate('{$.metadata.name}')({ metadata: { name: 'x' } }), 'x', '$ works as well as .');
});

test('a filter cannot run code', () => {
  const t = jsonpathTemplate('{.items[?(@.constructor.constructor("return process")().exit(3))].metadata.name}');
  assert.throws(() => t(list), /cannot be evaluated/);
});

test('bad templates are refused, naming where', () => {
  assert.throws(() => jsonpathTemplate('{.a'), /the "\{" at character 1 is never closed/);
  assert.throws(() => jsonpathTemplate('x{end}'), /\{end\} at character 2 closes no \{range\}/);
  assert.throws(() => jsonpathTemplate('{range .items[*]}{.a}'), /\{range\} at character 1 has no \{end\}/);
  assert.throws(() => jsonpathTemplate('{metadata.name}'), /"metadata.name" is not a path \(start it with "\."/);
});

test('custom columns: one value per object, <none> when missing, several joined by commas', () => {
  const cols = customColumns('NAME:.metadata.name,APP:{.metadata.labels.app},PORTS:.spec.ports[*]');
  assert.deepEqual(cols.map((c) => c.header), ['NAME', 'APP', 'PORTS']);
  assert.deepEqual(list.items.map((o) => cols.map((c) => c.value(o))), [['a', 'web', '80,443'], ['b', '<none>', '<none>']]);
  assert.throws(() => customColumns('NAME:.metadata.name,BROKEN'), /column 2 \("BROKEN"\) is not HEADER:EXPRESSION/);
  assert.throws(() => customColumns(':.x'), /column 1/);
});
