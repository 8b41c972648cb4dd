import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Placement, Resources } from '../core/index.ts';
import { Scheduler } from './scheduler.ts';
import { instance, link, node, site, stateOf, type NodeOpts } from './test-helpers.ts';

/** Places one instance on a fresh cluster of the given nodes (all in one edge site unless said otherwise). */
function place(nodes: [string, NodeOpts][], want: Partial<Resources> = {}, placement: Placement = {}, extra: Parameters<typeof stateOf>[0] = []) {
  const sites = new Set(nodes.map(([, o]) => o.site ?? 'site-a'));
  const state = stateOf([...[...sites].map((s) => site(s, s.startsWith('cloud') ? 'cloud' : s.startsWith('region') ? 'region' : 'edge')), ...nodes.map(([n, o]) => node(n, o)), ...extra]);
  return new Scheduler(state).place(instance('web-1', { want, placement }));
}

test('no nodes: nothing chosen, "0/0 nodes: no nodes"', () => {
  const d = new Scheduler(stateOf([])).place(instance('web-1'));
  assert.equal(d.node, null);
  assert.equal(d.explanation.summary, '0/0 nodes: no nodes');
});

test('nodes that are not Ready are filtered out, with the reason counted', () => {
  assert.equal(place([['a', { ready: false }], ['b', { ready: false }]]).explanation.summary, '0/2 nodes: 2 not Ready');
  assert.equal(place([['a', { ready: false }], ['b', {}]]).node, 'b');
});

test('cordoned nodes get nothing new', () => {
  assert.equal(place([['a', { unschedulable: true }]]).explanation.summary, '0/1 nodes: 1 cordoned');
  assert.equal(place([['a', { unschedulable: true }], ['b', {}]]).node, 'b');
});

test('a container instance goes only to nodes that offer the container runtime', () => {
  const sites = stateOf([site('site-a'), node('plain', {}), node('podman', { runtimes: ['process', 'container'] })]);
  assert.equal(new Scheduler(sites).place(instance('c-1', { runtime: 'container' })).node, 'podman');
  const none = new Scheduler(stateOf([site('site-a'), node('plain', {}), node('old', { runtimes: ['process'] })])).place(instance('c-1', { runtime: 'container' }));
  assert.equal(none.node, null);
  assert.equal(none.explanation.summary, '0/2 nodes: 2 no container runtime');
  assert.equal(new Scheduler(sites).place(instance('p-1')).node !== null, true, 'a process instance fits either');
});

test('tiers: only nodes whose site has an allowed tier; a node whose site object is missing does not qualify', () => {
  const state = stateOf([site('c', 'cloud'), site('e', 'edge'), node('cloud-1', { site: 'c' }), node('edge-1', { site: 'e' }), node('orphan', { site: 'gone' })]);
  const s = new Scheduler(state);
  assert.equal(s.place(instance('i', { placement: { tiers: ['edge'] } })).node, 'edge-1');
  assert.equal(s.place(instance('i', { placement: { tiers: ['cloud', 'region'] } })).node, 'cloud-1');
  assert.equal(s.place(instance('i', { placement: { tiers: ['region'] } })).explanation.summary, '0/3 nodes: 3 tier not allowed');
  assert.equal(new Scheduler(stateOf([node('orphan', { site: 'gone' })])).place(instance('i')).node, 'orphan', 'no tier constraint: the site object is not needed');
});

test('sites and pinned nodes: only those allowed', () => {
  const nodes: [string, NodeOpts][] = [['a1', { site: 'site-a' }], ['b1', { site: 'site-b' }], ['b2', { site: 'site-b' }]];
  assert.equal(place(nodes, {}, { sites: ['site-b'] }).node, 'b1');
  assert.equal(place(nodes, {}, { sites: ['site-c'] }).explanation.summary, '0/3 nodes: 3 site not allowed');
  assert.equal(place(nodes, {}, { policy: 'pinned', nodes: ['b2'] }).node, 'b2');
  assert.equal(place(nodes, {}, { policy: 'pinned', nodes: ['zz'] }).explanation.summary, '0/3 nodes: 3 node not allowed');
});

test('nodeSelector: every selected label must be present with that value', () => {
  const nodes: [string, NodeOpts][] = [['gpu', { labels: { accel: 'gpu', zone: 'z1' } }], ['plain', { labels: { zone: 'z1' } }]];
  assert.equal(place(nodes, {}, { nodeSelector: { accel: 'gpu' } }).node, 'gpu');
  assert.equal(place(nodes, {}, { nodeSelector: { accel: 'gpu', zone: 'z1' } }).node, 'gpu');
  assert.equal(place(nodes, {}, { nodeSelector: { accel: 'gpu', zone: 'z2' } }).explanation.summary, '0/2 nodes: 2 labels do not match');
});

test('cpu, memory, disk and accelerator shortfalls reject the node and name the resource, counting what is bound', () => {
  const cap = { cpu: 2, memoryMiB: 1024, diskMiB: 1000, accelerators: { gpu: 1 } };
  const want = { cpu: 1, memoryMiB: 512, diskMiB: 100, accelerators: { gpu: 1 } };
  const withBound = (used: Partial<Resources>) => place([['n', { capacity: cap }]], want, {}, [instance('other', { node: 'n', want: used, service: 'other' })]);
  assert.equal(withBound({ cpu: 1, memoryMiB: 512, diskMiB: 900 }).node, 'n', 'exactly full still fits');
  assert.equal(withBound({ cpu: 1.5 }).explanation.summary, '0/1 nodes: 1 insufficient cpu');
  assert.equal(withBound({ memoryMiB: 600 }).explanation.summary, '0/1 nodes: 1 insufficient memory');
  assert.equal(withBound({ diskMiB: 901 }).explanation.summary, '0/1 nodes: 1 insufficient disk');
  assert.equal(withBound({ accelerators: { gpu: 1 } }).explanation.summary, '0/1 nodes: 1 insufficient gpu');
  assert.equal(place([['n', { capacity: cap }]], { accelerators: { tpu: 1 } }).explanation.summary, '0/1 nodes: 1 insufficient tpu', 'an accelerator the node lacks');
});

test('a capacity of 0 means unreported: no limit on that resource', () => {
  assert.equal(place([['u', { capacity: { cpu: 0, memoryMiB: 0 } }]], { cpu: 64, memoryMiB: 65536 }).node, 'u');
  assert.equal(place([['c', { capacity: { cpu: 0, memoryMiB: 100 } }]], { cpu: 64, memoryMiB: 200 }).explanation.summary, '0/1 nodes: 1 insufficient memory');
});

test('taints: NoSchedule repels unless tolerated (Equal needs the value, Exists any); PreferNoSchedule only when nothing else fits', () => {
  const tainted: [string, NodeOpts][] = [['t', { taints: [{ key: 'team', value: 'ml', effect: 'NoSchedule' }] }]];
  assert.equal(place(tainted).explanation.summary, '0/1 nodes: 1 untolerated taint team=ml');
  assert.equal(place(tainted, {}, { tolerations: [{ key: 'team', operator: 'Equal', value: 'ml' }] }).node, 't');
  assert.equal(place(tainted, {}, { tolerations: [{ key: 'team', operator: 'Equal', value: 'web' }] }).node, null);
  assert.equal(place(tainted, {}, { tolerations: [{ key: 'team', operator: 'Exists', value: '' }] }).node, 't');
  assert.equal(place(tainted, {}, { tolerations: [{ key: 'team', operator: 'Exists', value: '', effect: 'PreferNoSchedule' }] }).node, null, 'a toleration for another effect does not count');
  const soft: [string, NodeOpts][] = [['a-soft', { taints: [{ key: 'spare', value: '', effect: 'PreferNoSchedule' }] }], ['z-plain', { capacity: { cpu: 1, memoryMiB: 128 } }]];
  assert.equal(place(soft).node, 'z-plain', 'the untainted node wins although it scores lower');
  assert.equal(place([soft[0]!]).node, 'a-soft', 'but the tainted one is used when it is the only fit');
});

test('affinity and anti-affinity, at node and site level, against instances of the same project', () => {
  const nodes: [string, NodeOpts][] = [['a1', { site: 'site-a' }], ['a2', { site: 'site-a' }], ['b1', { site: 'site-b' }]];
  const db = instance('db-1', { service: 'db', node: 'a2', labels: { app: 'db' } });
  const otherProject = instance('db-x', { service: 'db', node: 'b1', labels: { app: 'db' }, project: 'other' });
  assert.equal(place(nodes, {}, { affinity: [{ selector: { app: 'db' }, scope: 'node' }] }, [db, otherProject]).node, 'a2');
  const siteAff = place(nodes, {}, { affinity: [{ selector: { app: 'db' }, scope: 'site' }] }, [db, otherProject]);
  assert.ok(['a1', 'a2'].includes(siteAff.node!), 'anywhere in the db site');
  assert.equal(place(nodes, {}, { antiAffinity: [{ selector: { app: 'db' }, scope: 'site' }] }, [db, otherProject]).node, 'b1', 'the other project does not count');
  assert.equal(place(nodes, {}, { affinity: [{ selector: { app: 'cache' }, scope: 'node' }] }, [db]).explanation.summary, '0/3 nodes: 3 affinity not satisfied');
  const antiAll = place(nodes, {}, { antiAffinity: [{ selector: { app: 'db' }, scope: 'node' }] }, [db]);
  assert.notEqual(antiAll.node, 'a2');
});

test('SLA: nodes whose clients are further than maxLatency are rejected; unknown latency cannot be promised', () => {
  const nodes: [string, NodeOpts][] = [['far', { site: 'cloud' }], ['near', { site: 'edge-b' }], ['unknown', { site: 'edge-c' }]];
  const links = [link('edge-a', 'cloud', 42), link('edge-a', 'edge-b', 4)];
  const clients = { sites: ['edge-a'] };
  assert.equal(place(nodes, {}, { clients, maxLatency: '10ms' }, [site('edge-a'), ...links]).node, 'near');
  const none = place(nodes, {}, { clients, maxLatency: '3ms' }, [site('edge-a'), ...links]);
  assert.equal(none.explanation.summary, '0/3 nodes: 2 latency 4ms > SLA 3ms, 1 latency unknown');
  assert.equal(none.explanation.candidates.find((c) => c.node === 'far')!.verdict, 'latency 42ms > SLA 3ms');
});
