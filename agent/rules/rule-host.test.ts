import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fill } from './actions.ts';

describe('action templates', () => {
  it('put row fields into a topic, and refuse a topic a field would bend', () => {
    assert.equal(fill('signals/{{light}}/set', { light: 'n-1' }), 'signals/n-1/set');
    assert.equal(fill('a/{{ x.y }}', { x: { y: 7 } }), 'a/7');
    assert.equal(fill('signals/{{light}}/set', {}), undefined, 'missing');
    for (const bad of ['a/b', '#', '+', '']) assert.equal(fill('signals/{{light}}/set', { light: bad }), undefined, JSON.stringify(bad));
  });

  it('put anything into a payload text', () => {
    assert.equal(fill('{"color":"red","q":{{q}},"o":{{o}}}', { q: 5, o: { a: 1 } }, true), '{"color":"red","q":5,"o":{"a":1}}');
    assert.equal(fill('<{{missing}}>', {}, true), '<>');
  });
});

describe('webhook egress', () => {
  it('a webhook to a refused destination drops its rows with the reason, and never connects', async () => {
    const { ActionRunner } = await import('./actions.ts');
    const { EgressPolicy } = await import('../../core/index.ts');
    const { pino } = await import('pino');
    const errors: string[] = [];
    let dropped = 0;
    const runner = new ActionRunner({ project: 'p', name: 'r', key: 'p/r' }, { webhook: { url: 'http://169.254.169.254/latest/meta-data', method: 'POST', headers: {}, timeout: '1s' } }, { initialBackoff: '10ms', maxBackoff: '100ms', maxQueue: 100 }, {
      logger: pino({ level: 'silent' }),
      egress: new EgressPolicy(),
      onError: (_a, m) => errors.push(m),
      onDrop: (_a, n) => (dropped += n),
    });
    runner.send([{ a: 1 }, { a: 2 }], 1);
    const { waitFor } = await import('../../core/wait-for.ts');
    await waitFor(() => dropped === 2 || undefined, 5000, 'the rows dropped');
    assert.match(errors[0]!, /link-local/);
    runner.stop();
  });
});
