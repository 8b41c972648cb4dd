import { ConflictError, deviceSites, nowIso, type Condition, type DeviceCommandStatus, type DeviceStatus, type EdgeUplinkStatus, type InstanceStatus, type Node, type NodeStatus, type RuleNodeStatus } from '../../core/index.ts';
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
      if (!device || site === undefined || !deviceSites(device.spec).includes(site)) return; // deleted, or no longer at that site
      const prev: DeviceStatus = device.status ?? { connected: false, reported: {}, reportedVersion: 0, desiredAckVersion: 0, denied: 0 };
      // A device connected to another node now: what `node` says of its connection (gone from there, last seen
      // there) says nothing of where it is; only its twin counts.
      const elsewhere = update.connected !== true && prev.connected && prev.node !== undefined && prev.node !== node;
      const next: DeviceStatus = elsewhere ? { ...prev } : { ...prev, ...update, node, reported: prev.reported, reportedVersion: prev.reportedVersion };
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

  /** An instance's status as the node running it reports it; dropped when the instance is gone or bound elsewhere meanwhile. */
  async instance(node: string, project: string, name: string, status: InstanceStatus): Promise<void> {
    const inst = await this.store.get('Instance', project, name);
    if (!inst || inst.spec.node !== node) return;
    // The scheduler's explanation is the center's part of the status; the agent does not know it.
    const scheduling = inst.status?.scheduling;
    await this.store.updateStatus('Instance', project, name, scheduling ? { ...status, scheduling } : status);
  }

  /**
   * A device command's delivery as `node` saw it. Only a Pending command
   * moves (a later report cannot undo Delivered or Expired); `mayCommand`
   * says whether the node serves the command's device (false: refused).
   */
  async command(node: string, project: string, name: string, update: DeviceCommandStatus, mayCommand: (device: string) => boolean): Promise<'applied' | 'refused' | 'ignored'> {
    const cmd = await this.store.get('DeviceCommand', project, name);
    if (!cmd) return 'ignored'; // expired and collected meanwhile
    if (!mayCommand(cmd.spec.device)) return 'refused';
    if ((cmd.status?.phase ?? 'Pending') !== 'Pending') return 'ignored';
    await this.store.updateStatus('DeviceCommand', project, name, { ...cmd.status, ...update, node });
    return 'applied';
  }

  /**
   * What a node's agent says of the node: usage, agent, broker, runtimes,
   * uplink queue and the revision it applied, with its heartbeat time (the
   * phase is the lifecycle controller's). A changed capacity updates the
   * spec first. 'conflict': the lifecycle controller wrote meanwhile; the
   * next heartbeat writes again.
   */
  async nodeStatus(node: string, facts: NodeFacts): Promise<'written' | 'conflict' | 'gone'> {
    let current = await this.store.get('Node', undefined, node);
    if (!current) return 'gone';
    if (facts.capacity && JSON.stringify(facts.capacity) !== JSON.stringify(current.spec.capacity)) {
      await this.store.update({ ...current, spec: { ...current.spec, capacity: facts.capacity } });
      current = await this.store.get('Node', undefined, node);
      if (!current) return 'gone';
    }
    const now = nowIso();
    const prev = current.status ?? { phase: 'Pending' as const, conditions: [] };
    try {
      await this.store.updateStatus(
        'Node',
        undefined,
        node,
        {
          ...prev,
          lastHeartbeatAt: now,
          usage: facts.usage ? { ...facts.usage, at: now } : prev.usage,
          agent: facts.agent ?? prev.agent,
          mqtt: facts.mqtt,
          gateway: facts.gateway,
          conditions: mqttCondition(prev.conditions, facts.mqtt, now),
          runtimes: facts.runtimes ?? prev.runtimes,
          uplink: facts.uplink ? { ...facts.uplink, at: now } : prev.uplink,
          overflowing: facts.overflowing ?? prev.overflowing,
          syncedRevision: facts.syncedRevision || prev.syncedRevision,
        },
        { expectRevision: current.metadata.revision },
      );
      return 'written';
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
      return 'conflict';
    }
  }
}

/** What an agent has said of its node (nodeStatus); absent: unchanged. */
export interface NodeFacts {
  capacity?: Node['spec']['capacity'];
  usage?: { cpu: number; memoryMiB: number; diskMiB: number };
  agent?: NodeStatus['agent'];
  /** The broker's ports: absent means the node runs none now. */
  mqtt: NodeStatus['mqtt'];
  /** The endpoint gateway's address: absent means the node serves no endpoints now. */
  gateway?: NodeStatus['gateway'];
  runtimes?: string[];
  uplink?: EdgeUplinkStatus;
  /** The Services its endpoints overflow to upper tiers now (those whose endpoint it serves). */
  overflowing?: NodeStatus['overflowing'];
  /** 0: none acknowledged on this connection yet. */
  syncedRevision: number;
}

/**
 * The `MqttEncrypted` condition: False (with a warning) while the edge broker
 * accepts MQTT in clear, True when it serves only MQTTS/WSS. Unchanged
 * conditions keep their time.
 */
function mqttCondition(conditions: Condition[], mqtt: { tcp?: number; ws?: number; tls?: number; wss?: number } | undefined, now: string): Condition[] {
  const rest = conditions.filter((c) => c.type !== 'MqttEncrypted');
  if (!mqtt) return rest;
  const plain = mqtt.tcp !== undefined || mqtt.ws !== undefined;
  const next: Condition = plain
    ? { type: 'MqttEncrypted', status: 'False', reason: 'PlainListener', message: 'the edge broker accepts MQTT in clear (--mqtt-listen/--mqtt-ws-listen): device passwords and data cross the network unencrypted', at: now }
    : { type: 'MqttEncrypted', status: 'True', reason: 'TlsOnly', message: 'devices connect over MQTTS/WSS only', at: now };
  const prev = conditions.find((c) => c.type === 'MqttEncrypted');
  return [...rest, prev && prev.status === next.status && prev.reason === next.reason ? prev : next];
}
