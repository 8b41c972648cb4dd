import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { portNamed, type EndpointBackend } from '../../core/index.ts';
import { EndpointTable, type Vantage } from './endpoint-table.ts';
import { savedPorts } from './index.ts';

const gw = { host: '127.0.0.1', port: 9000 };
const backend = (instance: string, node: string, site: string, tier: 'edge' | 'region' | 'cloud', o: Partial<EndpointBackend> = {}): EndpointBackend => ({ instance, node, site, tier, ready: true, ports: { http: 8000 }, gateway: gw, ...o });

const here = (o: Partial<Vantage> = {}): Vantage => ({
  node: 'a1',
  site: 'edge-a',
  local: () => undefined,
  rttMs: () => undefined,
  failedUntil: () => 0,
  ...o,
});

function table(backends: EndpointBackend[]): EndpointTable {
  const t = new EndpointTable();
  t.apply({ full: true, sets: [{ project: 'p', service: 'web', ports: ['http'], backends }], gone: [] });
  return t;
}

test('candidates: this node, then this site, then by measured round trip, then region before cloud where nothing was measured', () => {
  const t = table([
    backend('cloud-1', 'c1', 'cloud', 'cloud'),
    backend('region-1', 'r1', 'region', 'region'),
    backend('far-edge', 'b1', 'edge-b', 'edge'),
    backend('near-edge', 'c9', 'edge-c', 'edge'),
    backend('same-site', 'a2', 'edge-a', 'edge'),
    backend('mine', 'a1', 'edge-a', 'edge'),
  ]);
  const rtt: Record<string, number> = { 'edge-b': 30, 'edge-c': 12 };
  const order = t.candidates('p', 'web', 'http', here({ local: () => ({ ready: true, ports: { http: 8123 } }), rttMs: (s) => rtt[s] }));
  assert.deepEqual(order.map((c) => c.backend.instance), ['mine', 'same-site', 'near-edge', 'far-edge', 'region-1', 'cloud-1']);
  assert.equal(order[0]!.port, 8123, "this node's instance at the port it has now");
  assert.ok(order[0]!.local && !order[1]!.local);
});

test("candidates: only ready instances (this node's by what the agent sees, not what the center said); another node's needs a gateway; a port the endpoint does not carry has none", () => {
  const t = table([backend('mine', 'a1', 'edge-a', 'edge'), backend('down', 'b1', 'edge-b', 'edge', { ready: false }), backend('no-gw', 'b2', 'edge-b', 'edge', { gateway: undefined }), backend('up', 'b3', 'edge-b', 'edge')]);
  assert.deepEqual(t.candidates('p', 'web', 'http', here({ local: () => ({ ready: false, ports: { http: 1 } }) })).map((c) => c.backend.instance), ['up']);
  assert.deepEqual(t.candidates('p', 'web', 'http', here({ local: () => undefined })).map((c) => c.backend.instance), ['up'], 'not running here (any more): not a candidate');
  assert.deepEqual(t.candidates('p', 'web', 'admin', here()), []);
  assert.deepEqual(t.candidates('p', 'other', 'http', here()), []);
  assert.deepEqual(t.candidates('q', 'web', 'http', here()), [], 'another project');
});

test('candidates: an instance that failed lately goes last, still tried when nothing else is left', () => {
  const t = table([backend('mine', 'a1', 'edge-a', 'edge'), backend('other', 'b1', 'edge-b', 'edge')]);
  const order = t.candidates('p', 'web', 'http', here({ local: () => ({ ready: true, ports: { http: 1 } }), failedUntil: (_p, i) => (i === 'mine' ? Date.now() + 1000 : 0) }));
  assert.deepEqual(order.map((c) => c.backend.instance), ['other', 'mine']);
});

test('apply: a full message replaces the table, a partial one replaces the sets it names and drops the gone, and says whether anything changed', () => {
  const t = table([backend('x', 'b1', 'edge-b', 'edge')]);
  const set2 = { project: 'p', service: 'api', ports: ['http'], backends: [] };
  assert.equal(t.apply({ full: false, sets: [set2], gone: [] }), true);
  assert.deepEqual(t.all().map((s) => s.service), ['api', 'web']);
  assert.equal(t.apply({ full: false, sets: [set2], gone: [] }), false, 'the same again: no change');
  assert.equal(t.apply({ full: false, sets: [], gone: [{ project: 'p', service: 'web' }] }), true);
  assert.deepEqual(t.all().map((s) => s.service), ['api']);
  assert.equal(t.apply({ full: true, sets: [], gone: [] }), true);
  assert.deepEqual(t.all(), []);
});

test('candidates (property): every ready reachable instance appears once, this node first, this site before other sites, and a failed one never before a healthy one', () => {
  const arb = fc.array(
    fc.record({ node: fc.constantFrom('a1', 'a2', 'b1', 'c1'), tier: fc.constantFrom('edge' as const, 'region' as const, 'cloud' as const), ready: fc.boolean(), gateway: fc.boolean(), failed: fc.boolean(), rtt: fc.option(fc.integer({ min: 0, max: 100 })) }),
    { maxLength: 12 },
  );
  fc.assert(
    fc.property(arb, (specs) => {
      const siteOf: Record<string, string> = { a1: 'edge-a', a2: 'edge-a', b1: 'edge-b', c1: 'edge-c' };
      const backends = specs.map((s, i) => backend(`i${i}`, s.node, siteOf[s.node]!, s.tier, { ready: s.ready, gateway: s.gateway ? gw : undefined }));
      const spec = (name: string) => specs[Number(name.slice(1))]!;
      const order = table(backends).candidates('p', 'web', 'http', here({ local: (_p, i) => ({ ready: spec(i).ready, ports: { http: 1 } }), rttMs: (site) => specs.find((s) => siteOf[s.node] === site)?.rtt ?? undefined, failedUntil: (_p, i) => (spec(i).failed ? Date.now() + 60_000 : 0) }));
      const expected = backends.filter((b) => b.ready && (b.node === 'a1' || b.gateway)).map((b) => b.instance).sort();
      assert.deepEqual(order.map((c) => c.backend.instance).sort(), expected);
      const rank = (c: (typeof order)[number]) => [c.rank.failed ? 1 : 0, c.rank.node ? 0 : 1, c.rank.site ? 0 : 1];
      for (let i = 1; i < order.length; i++) {
        const [a, b] = [rank(order[i - 1]!), rank(order[i]!)];
        assert.ok(a[0]! < b[0]! || (a[0] === b[0] && (a[1]! < b[1]! || (a[1] === b[1] && a[2]! <= b[2]!))), `order ${order.map((c) => c.backend.instance).join(',')}`);
      }
    }),
  );
});

test('a port named like a property every object has ("constructor") is looked up in the record itself, never inherited', () => {
  const t = new EndpointTable();
  t.apply({ full: true, sets: [{ project: 'p', service: 'web', ports: ['http', 'constructor'], backends: [backend('mine', 'a1', 'edge-a', 'edge'), backend('other', 'b1', 'edge-b', 'edge')] }], gone: [] });
  assert.deepEqual(t.candidates('p', 'web', 'constructor', here({ local: () => ({ ready: true, ports: { http: 1 } }) })), [], 'no instance has that port');
  assert.equal(portNamed({ http: 1 }, 'constructor'), undefined);
  assert.equal(portNamed({ constructor: 8080 } as Record<string, number>, 'constructor'), 8080);
  assert.equal(portNamed({ http: 0 }, 'http'), undefined);
});

test('the platform\'s nodes: all of them with a full message, then added and deleted; none known before the first', () => {
  const t = new EndpointTable();
  assert.equal(t.isNode('a1'), false, 'nothing heard yet: no node is taken');
  assert.equal(t.apply({ full: true, sets: [], gone: [], nodes: ['a1', 'b1'] }), true);
  assert.ok(t.isNode('a1') && t.isNode('b1'));
  assert.equal(t.apply({ full: false, sets: [], gone: [], nodesAdded: ['c1'], nodesGone: ['a1'] }), true);
  assert.deepEqual(t.nodes(), ['b1', 'c1']);
  assert.equal(t.apply({ full: false, sets: [], gone: [], nodesGone: ['a1'] }), false, 'gone again: no change');
});

test('savedPorts: the endpoints\' ports from local state; a damaged record is as none', () => {
  assert.deepEqual(savedPorts(JSON.stringify({ 'p/web/http': 40113 })), { 'p/web/http': 40113 });
  assert.deepEqual(savedPorts(undefined), {});
  assert.deepEqual(savedPorts('{not json'), {});
  assert.deepEqual(savedPorts(JSON.stringify({ 'p/web/http': 'x' })), {});
  assert.deepEqual(savedPorts('[1, 2]'), {});
});
