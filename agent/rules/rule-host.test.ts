import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Site } from '../../core/index.ts';
import { fill } from './actions.ts';
import { targets } from './rule-host.ts';

const site = (name: string, tier: 'cloud' | 'region' | 'edge', labels: Record<string, string> = {}) => ({ apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name, labels }, spec: { tier, description: '' } }) as Site;
const node = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: 'gedge.io/v1', kind: 'Node', metadata: { name, labels }, spec: { site: 's' } }) as unknown as Node;

describe('rule targets', () => {
  const edge = { site: 'edge-a', node: node('n1', { zone: 'north' }), siteObject: site('edge-a', 'edge', { city: 'seoul' }) };
  const cloud = { site: 'cloud', node: node('c1'), siteObject: site('cloud', 'cloud') };

  it('by default every node of an edge-tier site, and only those', () => {
    assert.equal(targets({}, 'n1', edge), true);
    assert.equal(targets({}, 'c1', cloud), false);
    assert.equal(targets({}, 'n1', { site: 'edge-a' }), false, 'a site not known yet is not assumed to be an edge');
  });

  it('sites and nodes name them (any tier); tiers, node and site labels narrow', () => {
    assert.equal(targets({ sites: ['cloud'] }, 'c1', cloud), true);
    assert.equal(targets({ nodes: ['n2'] }, 'n1', edge), false);
    assert.equal(targets({ nodes: ['n1'] }, 'n1', edge), true);
    assert.equal(targets({ tiers: ['cloud', 'region'] }, 'n1', edge), false);
    assert.equal(targets({ nodeSelector: { zone: 'north' } }, 'n1', edge), true);
    assert.equal(targets({ nodeSelector: { zone: 'south' } }, 'n1', edge), false);
    assert.equal(targets({ siteSelector: { city: 'seoul' }, sites: ['edge-a'] }, 'n1', edge), true);
    assert.equal(targets({ siteSelector: { city: 'busan' } }, 'n1', edge), false);
  });
});

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
