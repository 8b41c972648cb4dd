import { createHash } from 'node:crypto';
import type { Placement } from './placement-schema.ts';
import type { WorkloadTemplate } from './workload-schema.ts';

/**
 * What makes an instance current: the hash of its service's template and
 * placement as stored (a rollout replaces instances whose hash differs).
 * In core because the store's migrations must recompute it when they
 * rewrite a template's fields.
 */
export function templateHash(t: WorkloadTemplate, p: Placement): string {
  return createHash('sha256').update(JSON.stringify([t, p])).digest('hex').slice(0, 12);
}
