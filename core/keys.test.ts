import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_PROJECT, nameKey, projectKey, splitNameKey } from './resources.ts';

test('a project/name key splits back into its parts; an object without a project is in the default one', () => {
  const name = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
  fc.assert(fc.property(name, name, (project, n) => assert.deepEqual(splitNameKey(nameKey(project, n)), [project, n])));
  assert.equal(projectKey({ metadata: { name: 'web' } }), `${DEFAULT_PROJECT}/web`);
  assert.equal(nameKey(undefined, 'lamp'), nameKey(DEFAULT_PROJECT, 'lamp'));
});
