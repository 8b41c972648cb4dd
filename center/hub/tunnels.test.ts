import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CenterMessage } from '../../core/index.ts';
import { Tunnels, type TunnelConn } from './tunnels.ts';

/** Connected nodes, what each was sent, and how much each has queued. */
function nodes(...names: string[]) {
  const sent = new Map<string, CenterMessage[]>(names.map((n) => [n, []]));
  const queued = new Map<string, number>(names.map((n) => [n, 0]));
  const conns = new Map<string, TunnelConn>(names.map((n) => [n, { node: n, via: {}, send: (m) => void sent.get(n)!.push(m), buffered: () => queued.get(n)! }]));
  return { sent, queued, conn: (n: string) => conns.get(n)!, lookup: (n: string) => conns.get(n) };
}
const request = JSON.stringify({ session: 'pull', project: 'p', service: 's', client: 'c' });

test('a tunnel relays data both ways between its two ends, and a close reaches the other end', () => {
  const n = nodes('a', 'b', 'c');
  const t = new Tunnels(n.lookup);
  t.open(n.conn('a'), { id: 5, node: 'b', request });
  const opened = n.sent.get('b')![0] as Extract<CenterMessage, { t: 'tunnel.open' }>;
  assert.deepEqual(opened, { t: 'tunnel.open', id: opened.id, from: 'a', request });
  assert.equal(t.data(n.conn('a'), { id: 5, dir: 'out', data: 'aGk=' }), true);
  assert.equal(t.data(n.conn('b'), { id: opened.id, dir: 'in', data: 'eW8=' }), true);
  assert.deepEqual(n.sent.get('b')![1], { t: 'tunnel.data', id: opened.id, dir: 'in', data: 'aGk=' });
  assert.deepEqual(n.sent.get('a')![0], { t: 'tunnel.data', id: 5, dir: 'out', data: 'eW8=' });
  // Another node cannot write into it, under either id.
  assert.equal(t.data(n.conn('c'), { id: 5, dir: 'out', data: 'eA==' }), false);
  assert.equal(t.data(n.conn('c'), { id: opened.id, dir: 'in', data: 'eA==' }), false);
  assert.equal(t.close(n.conn('c'), { id: opened.id, dir: 'in' }), false);
  assert.equal(t.close(n.conn('b'), { id: opened.id, dir: 'in' }), true);
  assert.deepEqual(n.sent.get('a')![1], { t: 'tunnel.close', id: 5, dir: 'out' });
  assert.equal(t.size, 0);
});

test('a tunnel to a node not connected, to itself, twice under one id, or past the limit is refused', () => {
  const n = nodes('a', 'b');
  const t = new Tunnels(n.lookup, 2);
  const refusals = () => n.sent.get('a')!.filter((m) => m.t === 'tunnel.close').map((m) => (m as { error?: string }).error);
  t.open(n.conn('a'), { id: 1, node: 'z', request });
  t.open(n.conn('a'), { id: 2, node: 'a', request });
  t.open(n.conn('a'), { id: 3, node: 'b', request });
  t.open(n.conn('a'), { id: 3, node: 'b', request });
  t.open(n.conn('a'), { id: 4, node: 'b', request });
  t.open(n.conn('a'), { id: 5, node: 'b', request });
  assert.deepEqual(refusals(), ['node "z" is not connected', 'a node does not tunnel to itself', 'tunnel 3 is open already', 'at most 2 tunnels of one node are open at once']);
  assert.equal(t.size, 2);
});

test("a node going away, or one too slow to take the data, ends its tunnels and tells the other end", () => {
  const n = nodes('a', 'b');
  const t = new Tunnels(n.lookup);
  t.open(n.conn('a'), { id: 1, node: 'b', request });
  t.open(n.conn('a'), { id: 2, node: 'b', request });
  n.queued.set('b', 9 * 1024 * 1024);
  t.data(n.conn('a'), { id: 1, dir: 'out', data: 'aGk=' });
  assert.match(String((n.sent.get('a')!.at(-1) as { error?: string }).error), /does not take the tunnel's data fast enough/);
  t.ended('b', n.conn('b').via);
  assert.deepEqual(n.sent.get('a')!.filter((m) => m.t === 'tunnel.close').map((m) => (m as { id: number }).id), [1, 2]);
  assert.equal(t.size, 0);
});
