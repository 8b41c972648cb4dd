import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentConfigSchema } from '../config.ts';
import { formatHostPort, parseHostPort } from './host-port.ts';

test('parseHostPort reads host:port and [v6]:port, and refuses the rest', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:7390'), { host: '127.0.0.1', port: 7390 });
  assert.deepEqual(parseHostPort('edge-a.example:0'), { host: 'edge-a.example', port: 0 });
  assert.deepEqual(parseHostPort('[::1]:7390'), { host: '::1', port: 7390 });
  for (const bad of ['7390', '127.0.0.1', '::1:7390', 'h:70000', 'h:-1', 'h:x', ':1']) assert.equal(parseHostPort(bad), undefined, bad);
  assert.equal(formatHostPort({ host: '::1', port: 1 }), '[::1]:1');
});

test('agent config: probing on 127.0.0.1 by default, "off" disables it, bad addresses are named', () => {
  const base = { center: 'http://127.0.0.1:7380', dataDir: '/tmp/x' };
  assert.equal(agentConfigSchema.parse(base).probeListen, '127.0.0.1:0');
  assert.equal(agentConfigSchema.parse({ ...base, probeListen: 'off' }).probeListen, 'off');
  const bad = agentConfigSchema.safeParse({ ...base, probeListen: 'nowhere', probeAdvertise: '127.0.0.1:0' });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error!.issues.map((i) => i.path.join('.')).sort(), ['probeAdvertise', 'probeListen']);
});
