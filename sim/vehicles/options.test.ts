import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimConfigError } from '../errors.ts';
import { parseResolvers, parseVehicleOptions } from './options.ts';

const RESOLVERS = { 'edge-a': '127.0.0.1:7071', 'edge-b': '127.0.0.1:7072' };

test('defaults: 8 vehicles, 30 s a leg, a request every 500 ms, no rush hour', () => {
  const o = parseVehicleOptions({ resolvers: RESOLVERS });
  assert.deepEqual([o.project, o.service, o.vehicles, o.legMs, o.intervalMs, o.surge], ['city', 'assist', 8, 30_000, 500, undefined]);
});

test('bad options are refused with the flag that set them', () => {
  const fails = (input: Parameters<typeof parseVehicleOptions>[0], flag: RegExp) =>
    assert.throws(() => parseVehicleOptions(input), (e: unknown) => e instanceof SimConfigError && flag.test(e.message), String(flag));
  fails({ resolvers: RESOLVERS, vehicles: 0 }, /--vehicles/);
  fails({ resolvers: RESOLVERS, vehicles: 2.5 }, /--vehicles/);
  fails({ resolvers: RESOLVERS, legMs: 10 }, /--leg/);
  fails({ resolvers: {} }, /--resolvers/);
  fails({ resolvers: { 'edge-a': 'nowhere' } }, /--resolvers/);
  fails({ resolvers: RESOLVERS, surge: { site: 'edge-a', everyMs: 10_000, forMs: 20_000 } }, /--surge-for/);
  fails({ resolvers: RESOLVERS, surge: { site: 'edge-a', everyMs: 60_000, forMs: 20_000, rate: -1 } }, /--surge-rate/);
  fails({ resolvers: RESOLVERS, surge: { site: 'edge-z', everyMs: 60_000, forMs: 20_000 } }, /--surge-site: edge-z/);
});

test('--resolvers is SITE=HOST:PORT, comma separated, each site once', () => {
  assert.deepEqual(parseResolvers('edge-a=127.0.0.1:7071, edge-b=127.0.0.1:7072'), RESOLVERS);
  assert.throws(() => parseResolvers('edge-a'), /--resolvers: expected SITE=HOST:PORT/);
  assert.throws(() => parseResolvers('edge-a=1.2.3.4:1,edge-a=1.2.3.4:2'), /site edge-a named twice/);
});
