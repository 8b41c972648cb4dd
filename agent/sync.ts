import type { CenterMessage, Instance } from '../core/index.ts';

/**
 * The agent side of revision sync, pure: given the desired instances and the
 * applied revision, what one message from the center changes. Changes at or
 * below the applied revision are duplicates and ignored; a snapshot replaces
 * everything; `synced` only moves the revision forward.
 */
export interface SyncState {
  revision: number;
  instances: ReadonlyMap<string, Instance>;
}

export interface SyncStep {
  revision: number;
  put: Instance[];
  remove: string[];
  /** True for a snapshot: anything not in `put` goes. */
  replaceAll: boolean;
}

export const instanceId = (i: Instance): string => `${i.metadata.project ?? 'default'}.${i.metadata.name}`;

export function step(state: SyncState, msg: CenterMessage): SyncStep | null {
  switch (msg.t) {
    case 'change': {
      if (msg.revision <= state.revision) return null;
      const id = instanceId(msg.instance);
      if (msg.op === 'delete') return { revision: msg.revision, put: [], remove: state.instances.has(id) ? [id] : [], replaceAll: false };
      return { revision: msg.revision, put: [msg.instance], remove: [], replaceAll: false };
    }
    case 'snapshot': {
      const keep = new Set(msg.instances.map(instanceId));
      return { revision: msg.revision, put: msg.instances, remove: [...state.instances.keys()].filter((id) => !keep.has(id)), replaceAll: true };
    }
    case 'synced':
      return msg.revision > state.revision ? { revision: msg.revision, put: [], remove: [], replaceAll: false } : null;
    default:
      return null;
  }
}
