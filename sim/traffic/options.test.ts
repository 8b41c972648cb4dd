import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SimConfigError } from '../errors.ts';
import { checkIncidents, deviceNamesOf, grantsFor, planLayout } from './layout.ts';
import { parseDuration, parseIncident, parseTrafficOptions } from './options.ts';
import { parseCommand, parseDesired } from './signal-command.ts';
import { LatencySamples, TrafficCounters, formatStats, quantile } from './stats.ts';

describe('traffic options', () => {
  it('parses durations and incidents as the CLI takes them', () => {
    assert.equal(parseDuration('120s', 'x'), 120_000);
    assert.equal(parseDuration('1m30s', 'x'), 90_000);
    assert.equal(parseDuration('500ms', 'x'), 500);
    assert.equal(parseDuration('0', 'x'), 0);
    assert.throws(() => parseDuration('2.5', 'x'), SimConfigError, 'a bare number has no unit');
    assert.throws(() => parseDuration('soon', '--duration'), (e: unknown) => e instanceof SimConfigError && /--duration/.test(e.message));
    assert.deepEqual(parseIncident('edge-a/i3/n@30s+1m'), { site: 'edge-a', intersection: 'i3', approach: 'n', startMs: 30_000, durationMs: 60_000 });
    assert.throws(() => parseIncident('edge-a/i3/x@30s+1m'), SimConfigError);
    assert.throws(() => parseIncident('edge-a/3/n@30s'), SimConfigError);
  });

  it('fills defaults and reports every bad option with its path', () => {
    const o = parseTrafficOptions({});
    assert.deepEqual([o.project, o.devices, o.rate, o.cycleMs, o.durationMs, o.seed], ['city', 200, 10, 120_000, 0, 1]);
    assert.throws(
      () => parseTrafficOptions({ devices: 0, rate: -1, project: 'Bad Name' }),
      (e: unknown) => e instanceof SimConfigError && ['project', 'devices', 'rate'].every((p) => e.details.some((d) => d.path === p)),
    );
  });
});

describe('traffic layout', () => {
  it('makes round(devices/6) intersections, spread over the sites in turn, 6 uniquely named devices each', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), fc.uniqueArray(fc.constantFrom('edge-a', 'edge-b', 'edge-c', 'x'), { minLength: 1 }), (devices, sites) => {
        const layout = planLayout(sites, devices);
        assert.equal(layout.length, Math.max(1, Math.round(devices / 6)));
        const counts = sites.map((s) => layout.filter((i) => i.site === s).length);
        assert.ok(Math.max(...counts) - Math.min(...counts) <= 1);
        const names = layout.flatMap(deviceNamesOf);
        assert.equal(new Set(names).size, layout.length * 6);
      }),
    );
    const [first] = planLayout(['edge-a'], 12);
    assert.deepEqual(deviceNamesOf(first!), ['edge-a-i1-loop-n', 'edge-a-i1-loop-e', 'edge-a-i1-loop-s', 'edge-a-i1-loop-w', 'edge-a-i1-cam', 'edge-a-i1-light']);
    assert.deepEqual(grantsFor('loop', first!), { publish: ['traffic/edge-a/i1/#'], subscribe: [] });
    assert.deepEqual(grantsFor('light', first!), { publish: ['traffic/edge-a/i1/#'], subscribe: ['signals/edge-a/i1/#'] });
  });

  it('refuses names that would not be valid and incidents at unknown intersections', () => {
    assert.throws(() => planLayout(['a'.repeat(60)], 6), SimConfigError);
    const layout = planLayout(['edge-a', 'edge-b'], 24);
    checkIncidents(layout, [{ site: 'edge-b', intersection: 'i2', approach: 'n', startMs: 0, durationMs: 1 }]);
    assert.throws(() => checkIncidents(layout, [{ site: 'edge-b', intersection: 'i3', approach: 'n', startMs: 0, durationMs: 1 }]), /not simulated/);
  });
});

describe('signal commands', () => {
  it('reads commands and desired twins, ignoring unknown keys', () => {
    assert.deepEqual(parseCommand('{"greenNsMs":30000,"sensorTs":5,"via":"edge","queue":7}'), { command: { greenNsMs: 30_000 }, sensorTs: 5, via: 'edge' });
    assert.deepEqual(parseCommand('{"phase":"EW"}'), { command: { phase: 'EW' }, via: 'unknown' });
    assert.ok('error' in parseCommand('nope'));
    assert.ok('error' in parseCommand('{"phase":"red"}'));
    assert.deepEqual(parseDesired('{"version":3,"desired":{"greenEwMs":10000}}'), { version: 3, parsed: { command: { greenEwMs: 10_000 }, via: 'cloud' } });
    assert.ok('error' in parseDesired('{"desired":{}}'));
  });
});

describe('traffic stats', () => {
  it('gives nearest-rank quantiles, and a uniform sample past the cap', () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2);
    assert.equal(quantile([1, 2, 3, 4], 0.99), 4);
    const s = new LatencySamples(1000);
    for (let i = 1; i <= 100_000; i++) s.add(i % 100);
    const sum = s.summary();
    assert.equal(sum.count, 100_000);
    assert.equal(sum.max, 99);
    assert.ok(Math.abs(sum.p50! - 49) <= 5 && sum.p99! >= 95);
    assert.deepEqual(new LatencySamples().summary(), { count: 0, p50: null, p99: null, max: null });
  });

  it('counts messages per second over the last complete seconds', () => {
    const c = new TrafficCounters();
    for (let ms = 0; ms < 10_000; ms += 10) c.recordSent(50, 1_000_000 + ms);
    assert.equal(c.perSecond(1_010_000, 1_000_000), 100);
    assert.equal(c.perSecond(1_000_500, 1_000_000), 0);
    assert.equal(c.sent, 1000);
    assert.equal(c.bytes, 50_000);
    c.recordCommand('edge', { latencyMs: 3, clamped: true });
    c.recordCommand('unknown', { invalid: true });
    const cmds = c.commands();
    assert.deepEqual([cmds.edge.received, cmds.edge.clamped, cmds.edge.latencyMs.p50, cmds.unknown.invalid, cmds.cloud.received], [1, 1, 3, 1, 0]);
    const text = formatStats({ elapsedMs: 10_000, devices: { total: 6, connected: 6 }, messages: { sent: 1000, bytes: 50_000, perSecond: 100, dropped: 0 }, commands: cmds, intersections: [], phases: { NS: 1, EW: 0 } });
    assert.match(text, /sent 1,000 msgs \(100\/s/);
    assert.match(text, /edge 1 \(p50 3\.0 ms/);
  });
});
