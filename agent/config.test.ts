import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentConfigSchema } from './config.ts';

test('agent config: probing on 127.0.0.1 by default, "off" disables it, bad addresses are named', () => {
  const base = { center: 'http://127.0.0.1:7380', dataDir: '/tmp/x' };
  assert.equal(agentConfigSchema.parse(base).probeListen, '127.0.0.1:0');
  assert.equal(agentConfigSchema.parse({ ...base, probeListen: 'off' }).probeListen, 'off');
  const bad = agentConfigSchema.safeParse({ ...base, probeListen: 'nowhere', probeAdvertise: '127.0.0.1:0' });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error!.issues.map((i) => i.path.join('.')).sort(), ['probeAdvertise', 'probeListen']);
});
