import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from './manifest.ts';
import { BadRequestError, ValidationError, type ErrorDetail, type GedgeError } from './errors.ts';
import type { Project, Service } from './resources.ts';

/** Runs `fn`, asserts it throws `Ctor`, and returns the error for closer inspection. */
function thrown<E extends GedgeError>(Ctor: new (...a: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof Ctor, `expected ${Ctor.name}, got ${String(e)}`);
    return e;
  }
  assert.fail(`expected ${Ctor.name} to be thrown`);
}

const byPath = (details: ErrorDetail[]) => Object.fromEntries(details.map((d) => [d.path, d]));

test('multi-document YAML parses into resources with defaults filled in', () => {
  const text = [
    'apiVersion: gedge.io/v1',
    'kind: Project',
    'metadata:',
    '  name: demo',
    '---',
    'kind: Service',
    'metadata:',
    '  name: web',
    '  project: demo',
    'spec:',
    '  template:',
    '    command: [node, server.js]',
    '',
  ].join('\n');
  const out = parseManifest(text);
  assert.equal(out.length, 2);
  const [project, service] = out as [Project, Service];
  assert.deepEqual(project, {
    apiVersion: 'gedge.io/v1',
    kind: 'Project',
    metadata: { name: 'demo', labels: {} },
    spec: { description: '' },
  });
  assert.equal(service.kind, 'Service');
  assert.equal(service.apiVersion, 'gedge.io/v1', 'apiVersion defaulted');
  assert.deepEqual(service.metadata, { name: 'web', project: 'demo', labels: {} });
  assert.equal(service.spec.replicas, 1);
  assert.deepEqual(service.spec.placement, {});
  assert.deepEqual(service.spec.template, {
    runtime: 'process',
    command: ['node', 'server.js'],
    env: {},
    ports: [],
    volumes: [],
    resources: { cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} },
    restartPolicy: 'Always',
    stopGracePeriod: '5s',
  });
});

test('empty documents between separators are skipped', () => {
  const out = parseManifest('---\nkind: Project\nmetadata:\n  name: a\n---\n---\nkind: Project\nmetadata:\n  name: b\n');
  assert.deepEqual(
    out.map((r) => r.metadata.name),
    ['a', 'b'],
  );
});

test('JSON object, array and {kind: List, items} are all accepted', () => {
  const a = { kind: 'Project', metadata: { name: 'a' } };
  const b = { kind: 'Project', metadata: { name: 'b' }, spec: { description: 'second' } };
  const names = (text: string) => parseManifest(text).map((r) => r.metadata.name);
  assert.deepEqual(names(JSON.stringify(a)), ['a']);
  assert.deepEqual(names(JSON.stringify([a, b])), ['a', 'b']);
  assert.deepEqual(names(JSON.stringify({ kind: 'List', items: [a, b] })), ['a', 'b']);
  const [first] = parseManifest(JSON.stringify([a]));
  assert.deepEqual(first, { apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name: 'a', labels: {} }, spec: { description: '' } });
});

test('malformed YAML is a BadRequestError whose detail carries the 1-based line', () => {
  const err = thrown(BadRequestError, () => parseManifest('kind: Project\nmetadata:\n  name: a: b\n  labels: {}\n', 'app.yaml'));
  assert.equal(err.status, 400);
  assert.equal(err.details.length, 1);
  assert.equal(err.details[0]!.path, 'app.yaml');
  assert.equal(err.details[0]!.line, 3);
  assert.match(err.message, /app\.yaml/);
});

test('malformed YAML in a later document reports the line in the whole text', () => {
  const text = ['kind: Project', 'metadata:', '  name: a', '---', 'kind: Project', 'metadata:', '  name: b', '  name: c', ''].join('\n');
  const err = thrown(BadRequestError, () => parseManifest(text));
  assert.equal(err.details.length, 1);
  assert.equal(err.details[0]!.line, 8);
  assert.match(err.details[0]!.message, /unique/i);
});

test('an unknown kind is a ValidationError at path `kind` with its line', () => {
  const err = thrown(ValidationError, () => parseManifest('metadata:\n  name: b\nkind: Widget\n'));
  assert.equal(err.status, 422);
  assert.deepEqual(err.details, [{ path: 'kind', message: 'unknown kind "Widget"', line: 3 }]);
});

test('a kind alias is not a kind: manifests must spell the kind', () => {
  const err = thrown(ValidationError, () => parseManifest('kind: svc\nmetadata:\n  name: a\n'));
  assert.deepEqual(err.details.map((d) => d.path), ['kind']);
});

test('an unknown kind in document i of several is reported at `[i].kind` with its line', () => {
  const text = ['kind: Project', 'metadata:', '  name: a', '---', 'metadata:', '  name: b', 'kind: Widget', ''].join('\n');
  const err = thrown(ValidationError, () => parseManifest(text));
  assert.deepEqual(err.details, [{ path: '[1].kind', message: 'unknown kind "Widget"', line: 7 }]);
});

test('a missing kind is reported at `kind`', () => {
  const err = thrown(ValidationError, () => parseManifest('metadata:\n  name: a\n'));
  assert.equal(err.details.length, 1);
  assert.equal(err.details[0]!.path, 'kind');
  assert.match(err.details[0]!.message, /required/);
});

test('invalid fields: every problem is reported with its exact path and line', () => {
  const text = [
    'kind: Service', // 1
    'metadata:', // 2
    '  name: Bad_Name', // 3
    'spec:', // 4
    '  replicas: -1', // 5
    '  template:', // 6
    '    command: []', // 7
    '    restartPolicy: Sometimes', // 8
    '',
  ].join('\n');
  const err = thrown(ValidationError, () => parseManifest(text));
  assert.ok(err.details.length >= 3);
  const d = byPath(err.details);
  assert.deepEqual(Object.keys(d).sort(), ['metadata.name', 'spec.replicas', 'spec.template.command', 'spec.template.restartPolicy']);
  assert.equal(d['metadata.name']!.line, 3);
  assert.equal(d['spec.replicas']!.line, 5);
  assert.equal(d['spec.template.command']!.line, 7);
  assert.equal(d['spec.template.restartPolicy']!.line, 8);
  assert.match(err.message, /4 problem/);
});

test('problems across several documents are all reported, prefixed by document index, and nothing is returned', () => {
  const text = [
    'kind: Project', // 1
    'metadata:', // 2
    '  name: fine', // 3
    '---', // 4
    'kind: Service', // 5
    'metadata:', // 6
    '  name: web', // 7
    'spec:', // 8
    '  replicas: 2.5', // 9
    '  template:', // 10
    '    command: [x]', // 11
    '---', // 12
    'kind: Node', // 13
    'metadata:', // 14
    '  name: UPPER', // 15
    'spec:', // 16
    '  site: edge-a', // 17
    '  bogus: 1', // 18
    '',
  ].join('\n');
  let result: unknown;
  const err = thrown(ValidationError, () => (result = parseManifest(text)));
  assert.equal(result, undefined, 'nothing returned when a document is bad');
  const d = byPath(err.details);
  assert.deepEqual(Object.keys(d).sort(), ['[1].spec.replicas', '[2].metadata.name', '[2].spec.bogus']);
  assert.equal(d['[1].spec.replicas']!.line, 9);
  assert.equal(d['[2].metadata.name']!.line, 15);
  assert.match(d['[2].spec.bogus']!.message, /bogus/);
  assert.equal(d['[2].spec.bogus']!.line, 18);
});

test(
  'an unknown field is reported at the line of that field',

  () => {
    const text = ['kind: Node', 'metadata:', '  name: n1', 'spec:', '  site: edge-a', '  capacity: {cpu: 2}', '  bogus: 1', ''].join('\n');
    const err = thrown(ValidationError, () => parseManifest(text));
    assert.equal(err.details.length, 1);
    assert.match(err.details[0]!.message, /bogus/);
    assert.equal(err.details[0]!.line, 7);
  },
);

test('a missing required field is reported at the line of its parent', () => {
  const text = ['kind: Service', 'metadata:', '  name: web', 'spec:', '  replicas: 1', ''].join('\n');
  const err = thrown(ValidationError, () => parseManifest(text));
  assert.deepEqual(err.details.map((x) => x.path), ['spec.template']);
  assert.equal(err.details[0]!.line, 5, 'the spec mapping starts on line 5');
});

test('a scalar document is rejected as not an object', () => {
  const err = thrown(ValidationError, () => parseManifest('just a string\n'));
  assert.deepEqual(err.details.map((x) => x.path), ['(root)']);
});

test('problems in a JSON array of several items name the item and the line', () => {
  const text = [
    '[', // 1
    '  {"kind": "Project", "metadata": {"name": "a"}},', // 2
    '  {"kind": "Project",', // 3
    '   "metadata": {"name": "B"}}', // 4
    ']',
  ].join('\n');
  const err = thrown(ValidationError, () => parseManifest(text));
  assert.deepEqual(err.details, [{ path: '[1].metadata.name', message: err.details[0]!.message, line: 4 }]);
});

test('problems in a {kind: List} of several items name the item and the line', () => {
  const text = [
    '{"kind": "List", "items": [', // 1
    '  {"kind": "Project", "metadata": {"name": "a"}},', // 2
    '  {"kind": "Project",', // 3
    '   "metadata": {"name": "B"}}', // 4
    ']}',
  ].join('\n');
  const err = thrown(ValidationError, () => parseManifest(text));
  assert.deepEqual(err.details.map((x) => [x.path, x.line]), [['[1].metadata.name', 4]]);
});

test(
  'a JSON array or List holding one item reports the line inside that item',

  () => {
    const arr = ['[', '  {"kind": "Project",', '   "metadata": {"name": "B"}}', ']'].join('\n');
    const e1 = thrown(ValidationError, () => parseManifest(arr));
    assert.deepEqual(e1.details.map((x) => [x.path, x.line]), [['metadata.name', 3]]);
    const list = ['{"kind": "List", "items": [', '  {"kind": "Project",', '   "metadata": {"name": "B"}}', ']}'].join('\n');
    const e2 = thrown(ValidationError, () => parseManifest(list));
    assert.deepEqual(e2.details.map((x) => [x.path, x.line]), [['metadata.name', 3]]);
  },
);

test('empty text is a BadRequestError', () => {
  for (const text of ['', '   \n\t\n', '---\n---\n', '# only a comment\n']) {
    const err = thrown(BadRequestError, () => parseManifest(text, 'x.yaml'));
    assert.match(err.message, /empty manifest/, JSON.stringify(text));
    assert.equal(err.details[0]!.path, 'x.yaml');
  }
});

test('an empty List is a BadRequestError, not an empty success', () => {
  thrown(BadRequestError, () => parseManifest('{"kind": "List", "items": []}'));
});

test('durations: every duration field takes one grammar; a field renamed from its old unit-suffixed name says what to write, at its line', () => {
  const text = [
    'kind: Service', // 1
    'metadata: { name: web }', // 2
    'spec:', // 3
    '  template:', // 4
    '    command: [run]', // 5
    '    stopGraceMs: 5000', // 6
    '    readiness: { tcp: { port: 80 }, periodMs: 1500, timeout: 100 }', // 7
    '    liveness: { tcp: { port: 80 }, period: 1h30 }', // 8
    '  rollout: { progressDeadline: 2h }', // 9
    '',
  ].join('\n');
  const d = byPath(thrown(ValidationError, () => parseManifest(text)).details);
  assert.deepEqual(d['spec.template.stopGraceMs'], { path: 'spec.template.stopGraceMs', message: 'stopGraceMs is now stopGracePeriod, a duration: write stopGracePeriod: 5s', line: 6 });
  assert.equal(d['spec.template.readiness.periodMs']!.message, 'periodMs is now period, a duration: write period: 1s500ms');
  assert.equal(d['spec.template.readiness.periodMs']!.line, 7);
  assert.equal(d['spec.template.readiness.timeout']!.message, 'a duration needs a unit: 100ms for 100 ms, say');
  assert.equal(d['spec.template.liveness.period']!.message, 'a duration like 90s, 1h30m, 500ms or 7d');
  assert.equal(d['spec.rollout.progressDeadline']!.message, 'at most 1h');
  assert.equal(Object.keys(d).length, 5);

  const [ok] = parseManifest('kind: Service\nmetadata: { name: web }\nspec:\n  template: { command: [run], stopGracePeriod: 1m30s, readiness: { tcp: { port: 80 }, period: 500ms } }\n') as Service[];
  assert.equal(ok!.spec.template.stopGracePeriod, '1m30s', 'kept as written, so `get -o yaml` applies again');
  assert.deepEqual([ok!.spec.template.readiness!.period, ok!.spec.template.readiness!.timeout, ok!.spec.rollout.progressDeadline], ['500ms', '1s', '2m'], 'defaults are durations too');
});

test('endpoint: it carries ports of the template, named; a name it does not have, or a template with no port, is refused at its line', () => {
  const svc = (endpoint: string, ports: string) => ['kind: Service', 'metadata: {name: web}', 'spec:', '  template:', "    command: [node, -e, '0']", `    ports: ${ports}`, `  endpoint: ${endpoint}`, ''].join('\n');
  const ok = parseManifest(svc('{ports: [http]}', '[{name: http}, {name: admin}]'))[0] as Service;
  assert.deepEqual(ok.spec.endpoint, { ports: ['http'] });
  assert.deepEqual((parseManifest(svc('{}', '[{name: http}]'))[0] as Service).spec.endpoint, {}, 'every port of the template');
  const unknown = thrown(ValidationError, () => parseManifest(svc('{ports: [http, grpc]}', '[{name: http}]')));
  assert.deepEqual(unknown.details.map((d) => [d.path, d.line]), [['spec.endpoint.ports[1]', 7]]);
  assert.match(unknown.details[0]!.message, /"grpc" is not one of the template's ports \(http\)/);
  const none = thrown(ValidationError, () => parseManifest(svc('{}', '[]')));
  assert.deepEqual(none.details.map((d) => d.path), ['spec.endpoint']);
  assert.match(none.details[0]!.message, /the template has none/);
  thrown(ValidationError, () => parseManifest(svc('{ports: [http], extra: 1}', '[{name: http}]')));
  assert.match(thrown(ValidationError, () => parseManifest(svc('{ports: [http, http]}', '[{name: http}]'))).details[0]!.message, /"http" is named twice/);
  thrown(ValidationError, () => parseManifest(svc('{ports: []}', '[{name: http}]')));
  const many = JSON.stringify(Array.from({ length: 17 }, (_, i) => ({ name: `p${i}` })));
  assert.match(thrown(ValidationError, () => parseManifest(svc('{}', many))).details[0]!.message, /at most 16 ports and the template has 17/);
  assert.ok(parseManifest(svc('{ports: [p0]}', many)), 'naming the ones it carries');
});
