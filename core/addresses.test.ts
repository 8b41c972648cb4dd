import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyAddress } from './addresses.ts';
import { probeAddressProblem } from './probe-address.ts';

test('addresses are classified by range, IPv4-mapped IPv6 as its IPv4', () => {
  const cases: [string, string | undefined][] = [
    ['127.0.0.1', 'loopback'], ['::1', 'loopback'], ['::ffff:127.0.0.1', 'loopback'],
    ['169.254.169.254', 'link-local'], ['fe80::1', 'link-local'], ['::ffff:169.254.169.254', 'link-local'],
    ['0.0.0.0', 'unspecified'], ['::', 'unspecified'], ['224.0.0.1', 'multicast'], ['ff02::1', 'multicast'],
    ['10.1.2.3', 'private'], ['172.20.0.1', 'private'], ['192.168.1.1', 'private'], ['fd00::1', 'private'],
    ['8.8.8.8', 'public'], ['2001:db8::1', 'public'], ['edge.example', undefined],
  ];
  for (const [ip, cls] of cases) assert.equal(classifyAddress(ip), cls, ip);
});

test('a probe address is refused when it points peers at nowhere, metadata, multicast, or (from afar) their own loopback', () => {
  const p = (host: string) => ({ host, port: 7000 });
  assert.equal(probeAddressProblem(p('10.0.0.5'), '10.0.0.5'), undefined);
  assert.equal(probeAddressProblem(p('edge-a.example'), '203.0.113.9'), undefined);
  assert.equal(probeAddressProblem(p('127.0.0.1'), '127.0.0.1'), undefined, 'one machine: loopback is right');
  assert.equal(probeAddressProblem(p('127.0.0.1'), '::ffff:127.0.0.1'), undefined);
  assert.match(probeAddressProblem(p('127.0.0.1'), '203.0.113.9')!, /loopback/);
  assert.match(probeAddressProblem(p('localhost'), '203.0.113.9')!, /localhost/);
  assert.match(probeAddressProblem(p('169.254.169.254'), '127.0.0.1')!, /link-local/);
  assert.match(probeAddressProblem(p('0.0.0.0'), '127.0.0.1')!, /unspecified/);
  assert.match(probeAddressProblem(p('224.0.0.1'), '127.0.0.1')!, /multicast/);
  assert.match(probeAddressProblem(p('[fe80::1]'), '127.0.0.1')!, /link-local/);
  assert.match(probeAddressProblem(p('bad host!'), '127.0.0.1')!, /neither/);
});
