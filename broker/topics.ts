import { DEFAULT_PROJECT } from '../core/resources.ts';
import { nameSchema } from '../core/schema-base.ts';
import type { DeviceRef } from './types.ts';

export { filterCovers, isTwinRequest, isValidFilter, isValidTopic, topicMatches } from '../core/topics.ts';

/** `<project>/<device>` or `<device>` (project `default`); null unless both are names. */
export function parseClientId(id: string): DeviceRef | null {
  const slash = id.indexOf('/');
  const project = slash < 0 ? DEFAULT_PROJECT : id.slice(0, slash);
  const device = slash < 0 ? id : id.slice(slash + 1);
  return nameSchema.safeParse(project).success && nameSchema.safeParse(device).success ? { project, device } : null;
}
