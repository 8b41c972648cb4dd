import { ConflictError, type DeviceStatus, type RuleNodeStatus } from '../../core/index.ts';
import type { Store } from '../store/store.ts';

/** Tries of a status merge when other writers keep coming first (client-go's RetryOnConflict has 5). */
export const MERGE_TRIES = 8;

/**
 * Runs a read-merge-write `attempt` again while another writer came first
 * (ConflictError), at most `tries` times in all; the last conflict is thrown.
 */
export async function retryOnConflict(attempt: () => Promise<void>, tries = MERGE_TRIES): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof ConflictError) || i >= tries) throw e;
    }
  }
}

/**
 * What nodes report, merged into the objects' status, apart from the
 * channel they came on (center/hub/agent-session.ts checks who may say
 * what). Each merge reads the object, merges, and writes with the revision
 * it read: written meanwhile (another edge of the site, another node of the
 * rule, a spec change), it merges again on the fresh object.
 */
export class NodeReports {
  constructor(private readonly store: Store) {}

  /**
   * A device's state as the edge `node` (at `site`) saw it. The reported
   * twin is merged only when its version is newer than the stored one (an
   * edge that reconnects with old news cannot roll it back); connection
   * state and last seen are the reporting edge's.
   */
  device(node: string, site: string | undefined, project: string, name: string, update: Partial<DeviceStatus>): Promise<void> {
    return retryOnConflict(async () => {
      const device = await this.store.get('Device', project, name);
      if (!device || device.spec.site !== site) return; // deleted or moved meanwhile
      const prev: DeviceStatus = device.status ?? { connected: false, reported: {}, reportedVersion: 0, desiredAckVersion: 0, denied: 0 };
      const next: DeviceStatus = { ...prev, ...update, node, reported: prev.reported, reportedVersion: prev.reportedVersion };
      if (update.reportedVersion !== undefined && update.reportedVersion > prev.reportedVersion) {
        next.reported = update.reported ?? prev.reported;
        next.reportedVersion = update.reportedVersion;
      }
      next.desiredAckVersion = Math.max(prev.desiredAckVersion, update.desiredAckVersion ?? 0);
      await this.store.updateStatus('Device', project, name, next, { expectRevision: device.metadata.revision });
    });
  }

  /** `node`'s part of a Rule's status (null: the node no longer runs it); other nodes' parts are left as they are. */
  rule(node: string, project: string, name: string, status: RuleNodeStatus | null): Promise<void> {
    return retryOnConflict(async () => {
      const rule = await this.store.get('Rule', project, name);
      if (!rule || (status === null && !rule.status?.nodes[node])) return;
      const { [node]: _, ...others } = rule.status?.nodes ?? {};
      const nodes = status === null ? others : { ...others, [node]: status };
      await this.store.updateStatus('Rule', project, name, { nodes }, { expectRevision: rule.metadata.revision });
    });
  }
}
