import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHostPort, parseHostPort } from './host-port.ts';

test('parseHostPort reads host:port and [v6]:port, and refuses the rest', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:7390'), { host: '127.0.0.1', port: 7390 });
  assert.deepEqual(parseHostPort('edge-a.example:0'), { host: 'edge-a.example', port: 0 });
  assert.deepEqual(parseHostPort('[::1]:7390'), { host: '::1', port: 7390 });
  for (const bad of ['7390', '127.0.0.1', '::1:7390', 'h:70000', 'h:-1', 'h:x', ':1']) assert.equal(parseHostPort(bad), undefined, bad);
  assert.equal(formatHostPort({ host: '::1', port: 1 }), '[::1]:1');
});
