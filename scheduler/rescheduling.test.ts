import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { PriorityClass } from '../core/index.ts';
import { Scheduler } from './scheduler.ts';
import { planMoves, retirementsDue } from './rebalance.ts';
import { disruptionBudget } from './preemption.ts';
import { instance, link, node, service, site, stateOf } from './test-helpers.ts';

const pc = (name: string, value: number, preemptionPolicy: 'PreemptLowerPriority' | 'Never' = 'PreemptLowerPriority'): PriorityClass => ({
  apiVersion: 'gedge.io/v1',
  kind: 'PriorityClass',
  metadata: { name, labels: {} },
  spec: { value, preemptionPolicy, description: '' },
});

test('preemption: a higher priority evicts the minimal set of lower-priority instances on the best node', () => {
  const state = stateOf([
    pc('critical', 1000),
    pc('batch', 10),
    site('edge'),
    node('e-1', { site: 'edge', capacity: { cpu: 4, memoryMiB: 4096 } }),
    node('e-2', { site: 'edge', capacity: { cpu: 4, memoryMiB: 4096 } }),
    service('low', 10, 10),
    instance('low-1', { service: 'low', node: 'e-1', want: { cpu: 1 }, ready: true }),
    instance('low-2', { service: 'low', node: 'e-1', want: { cpu: 1 }, ready: true }),
    instance('low-3', { service: 'low', node: 'e-1', want: { cpu: 2 }, ready: true }),
    instance('mid-1', { service: 'mid', node: 'e-2', want: { cpu: 4 }, ready: true, placement: { priorityClass: 'batch' } }),
  ]);
  const d = new Scheduler(state).place(instance('vip', { service: 'vip', want: { cpu: 2 }, placement: { priorityClass: 'critical' } }));
  assert.equal(d.node, null);
  assert.equal(d.preemption?.node, 'e-1', 'priority-0 victims are preferred over priority-10 ones');
  assert.deepEqual(d.preemption!.victims.map((v) => v.name), ['low-3'], 'one 2-cpu victim, not the two 1-cpu ones');
  assert.equal(d.explanation.nominatedNode, 'e-1');
  // The room is held: a lower priority does not take it while the victims go.
  state.nominate('e-1', 'default/vip', 1000, d.preemption!.victims[0]!.resources);
  state.apply(instance('low-3', { service: 'low', node: 'e-1' }), true);
  assert.equal(new Scheduler(state).place(instance('other', { service: 'other', want: { cpu: 2 } })).explanation.summary, '0/2 nodes: 2 insufficient cpu');
  assert.equal(new Scheduler(state).place(instance('vip', { service: 'vip', want: { cpu: 2 }, placement: { priorityClass: 'critical' } })).node, 'e-1');
});

test('preemption respects preemptionPolicy Never, equal priorities, and the victims\u2019 disruption budget', () => {
  const base = [pc('critical', 1000), pc('polite', 1000, 'Never'), site('edge'), node('e-1', { site: 'edge', capacity: { cpu: 2, memoryMiB: 4096 } })];
  const low = instance('low-1', { service: 'low', node: 'e-1', want: { cpu: 2 }, ready: true });
  const want = { cpu: 2 };
  assert.equal(new Scheduler(stateOf([...base, service('low', 1, 1), low])).place(instance('v', { want, placement: { priorityClass: 'polite' } })).preemption, undefined);
  assert.equal(new Scheduler(stateOf([...base, service('low', 1, 1), low])).place(instance('v', { want })).preemption, undefined, 'priority 0 cannot evict priority 0');
  assert.equal(new Scheduler(stateOf([...base, service('low', 1, 0), low])).place(instance('v', { want, placement: { priorityClass: 'critical' } })).preemption, undefined, 'maxUnavailable 0: the victim may not go');
  assert.equal(new Scheduler(stateOf([...base, service('low', 1, 1), low])).place(instance('v', { want, placement: { priorityClass: 'critical' } })).preemption?.node, 'e-1');
});

test('rebalance: an instance whose SLA no longer holds moves to a compliant node; none compliant, it stays and is reported stranded', () => {
  const objs = [site('edge-a'), site('edge-b'), site('edge-c'), node('b-1', { site: 'edge-b' }), node('c-1', { site: 'edge-c' }), service('web', 1, 1)];
  const placement = { clients: { sites: ['edge-a'] }, maxLatency: '10ms' };
  const running = instance('web-1', { node: 'b-1', ready: true, placement });
  const state = stateOf([...objs, link('edge-a', 'edge-b', 25), link('edge-a', 'edge-c', 3), running]);
  const { moves, stranded } = planMoves(new Scheduler(state), [running]);
  assert.deepEqual(moves.map((m) => [m.instance, m.from, m.to, m.reason]), [['default/web-1', 'b-1', 'c-1', 'sla']]);
  assert.match(moves[0]!.detail, /latency 25ms > SLA 10ms on b-1; c-1 meets it/);
  assert.deepEqual(stranded, []);
  state.apply(link('edge-a', 'edge-c', 30));
  const after = planMoves(new Scheduler(state), [running]);
  assert.deepEqual(after.moves, [], 'no compliant node: better degraded than down');
  assert.deepEqual(after.stranded, [{ instance: 'default/web-1', node: 'b-1', detail: 'latency 25ms > SLA 10ms on b-1; no compliant node (0/2 nodes: 2 latency 25ms > SLA 10ms)' }]);
});

test('rebalance by score needs a clear gain, and never more moves in flight than maxUnavailable allows', () => {
  const objs = [site('a'), node('busy', { site: 'a' }), node('idle', { site: 'a' }), service('web', 3, 1)];
  const reps = [0, 1, 2].map((i) => instance(`web-${i}`, { node: 'busy', ready: true }));
  const state = stateOf([...objs, ...reps]);
  const { moves } = planMoves(new Scheduler(state), reps);
  assert.equal(moves.length, 1, 'one move in flight for maxUnavailable 1');
  assert.equal(moves[0]!.to, 'idle');
  const balanced = stateOf([...objs, instance('web-0', { node: 'busy', ready: true }), instance('web-1', { node: 'idle', ready: true })]);
  assert.deepEqual(planMoves(new Scheduler(balanced), [instance('web-0', { node: 'busy', ready: true })]).moves, [], 'a small gain does not move anything');
});

test('property: rescheduling never takes a service below its floor (retirements, preemption victims, moves in flight)', () => {
  const svcArb = fc.record({
    replicas: fc.integer({ min: 1, max: 4 }),
    maxUnavailable: fc.integer({ min: 0, max: 2 }),
    reps: fc.array(fc.record({ ready: fc.boolean(), retiring: fc.boolean(), node: fc.constantFrom('n-0', 'n-1', 'n-2') }), { maxLength: 6 }),
  });
  fc.assert(
    fc.property(fc.array(svcArb, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 4 }), (svcs, vipCpu) => {
      // Retirements: a ready retiring instance goes only when enough others are ready.
      for (const s of svcs) {
        const reps = s.reps.map((r, i) => ({ name: `r${i}`, ...r }));
        const due = new Set(retirementsDue(reps, s.replicas));
        const before = reps.filter((r) => r.ready).length;
        const after = reps.filter((r) => r.ready && !due.has(r.name)).length;
        assert.ok(after >= Math.min(before, s.replicas), `retirements left ${after} ready of ${s.replicas}`);
        for (const n of due) assert.ok(reps.find((r) => r.name === n)!.retiring);
      }
      // Preemption victims and planned moves, on a real cluster state.
      const objs: Parameters<typeof stateOf>[0] = [pc('vip', 100), site('s'), ...['n-0', 'n-1', 'n-2'].map((n) => node(n, { site: 's', capacity: { cpu: 4, memoryMiB: 4096 } }))];
      const insts = svcs.flatMap((s, k) => {
        objs.push(service(`svc-${k}`, s.replicas, s.maxUnavailable));
        return s.reps.map((r, i) => instance(`svc-${k}-${i}`, { service: `svc-${k}`, node: r.node, ready: r.ready, want: { cpu: 0.5 }, labels: r.retiring ? { 'gedge.io/retiring': 'x' } : {} }));
      });
      const state = stateOf([...objs, ...insts]);
      const budget = disruptionBudget(state);
      const d = new Scheduler(state).place(instance('vip', { service: 'vip', want: { cpu: vipCpu + 2 }, placement: { priorityClass: 'vip' } }));
      const lost = new Map<string, number>();
      for (const v of d.preemption?.victims ?? []) if (v.ready) lost.set(v.service!, (lost.get(v.service!) ?? 0) + 1);
      for (const [svc, n] of lost) assert.ok(n <= budget.get(svc)!, `${svc} loses ${n} ready, budget ${budget.get(svc)}`);
      const { moves } = planMoves(new Scheduler(state), insts);
      svcs.forEach((s, k) => {
        const already = s.reps.filter((r) => r.retiring).length;
        const planned = moves.filter((m) => m.instance.startsWith(`default/svc-${k}-`)).length;
        assert.ok(planned === 0 || already + planned <= Math.max(1, s.maxUnavailable), `svc-${k}: ${already} + ${planned} moves in flight`);
      });
    }),
    { numRuns: 500 },
  );
});
