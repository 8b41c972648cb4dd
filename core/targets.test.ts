import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Route, Site } from './resources.ts';
import { routeRunsAt, ruleTargets } from './targets.ts';

const site = (name: string, tier: 'cloud' | 'region' | 'edge', labels: Record<string, string> = {}) => ({ apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name, labels }, spec: { tier, description: '' } }) as Site;
const node = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: 'gedge.io/v1', kind: 'Node', metadata: { name, labels }, spec: { site: 's' } }) as unknown as Node;

describe('rule targets', () => {
  const edge = { site: 'edge-a', nodeObject: node('n1', { zone: 'north' }), siteObject: site('edge-a', 'edge', { city: 'seoul' }) };
  const cloud = { site: 'cloud', nodeObject: node('c1'), siteObject: site('cloud', 'cloud') };

  it('by default every node of an edge-tier site, and only those', () => {
    assert.equal(ruleTargets({}, { ...edge, node: 'n1' }), true);
    assert.equal(ruleTargets({}, { ...cloud, node: 'c1' }), false);
    assert.equal(ruleTargets({}, { node: 'n1', site: 'edge-a' }), false, 'a site not known yet is not assumed to be an edge');
  });

  it('sites and nodes name them (any tier); tiers, node and site labels narrow', () => {
    assert.equal(ruleTargets({ sites: ['cloud'] }, { ...cloud, node: 'c1' }), true);
    assert.equal(ruleTargets({ nodes: ['n2'] }, { ...edge, node: 'n1' }), false);
    assert.equal(ruleTargets({ nodes: ['n1'] }, { ...edge, node: 'n1' }), true);
    assert.equal(ruleTargets({ tiers: ['cloud', 'region'] }, { ...edge, node: 'n1' }), false);
    assert.equal(ruleTargets({ nodeSelector: { zone: 'north' } }, { ...edge, node: 'n1' }), true);
    assert.equal(ruleTargets({ nodeSelector: { zone: 'south' } }, { ...edge, node: 'n1' }), false);
    assert.equal(ruleTargets({ siteSelector: { city: 'seoul' }, sites: ['edge-a'] }, { ...edge, node: 'n1' }), true);
    assert.equal(ruleTargets({ siteSelector: { city: 'busan' } }, { ...edge, node: 'n1' }), false);
  });
});

describe('route sites', () => {
  const route = (sites?: string[]) => ({ kind: 'Route', spec: { topic: 'x/#', sink: { type: 'table' }, ...(sites ? { sites } : {}) } }) as unknown as Route;
  it('no sites: every site; else only those named, never an unknown site', () => {
    assert.equal(routeRunsAt(route(), 'edge-a'), true);
    assert.equal(routeRunsAt(route(['edge-a']), 'edge-a'), true);
    assert.equal(routeRunsAt(route(['edge-a']), 'edge-b'), false);
    assert.equal(routeRunsAt(route(['edge-a']), undefined), false);
  });
});
