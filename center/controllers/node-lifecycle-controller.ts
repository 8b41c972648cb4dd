import type { Node } from '../../core/index.ts';
import { ConflictError, NotFoundError } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import { watch, type Reconciler } from './controller.ts';
import type { Reader } from './object-cache.ts';
import { recordEvent } from '../events.ts';

export interface LifecycleOptions {
  /** No heartbeat for this long: the node is NotReady. */
  notReadyAfterMs: number;
  /** NotReady for this long: its instances are deleted so they are recreated elsewhere. */
  evictAfterMs: number;
  /** When the node's agent was last heard from; undefined if not since the center started. */
  seenAt: (node: string) => number | undefined;
  /** The center's start time: a node not heard from since gets the full grace from here. */
  startedAt: number;
  /** How often every node is looked at. */
  tickMs: number;
  now?: () => number;
}

/** Node phase from heartbeats (Pending -> Ready <-> NotReady) and eviction of lost nodes' instances. */
export class NodeLifecycleController implements Reconciler {
  readonly name = 'node-lifecycle';
  readonly watches = [watch('Node', (e) => (e.statusOnly ? [] : [e.object.metadata.name]))];
  /** Every node, every tick: silence is noticed within one. */
  readonly resyncMs: number;

  constructor(
    private readonly store: Store,
    private readonly opts: LifecycleOptions,
    private readonly reader: Reader = store,
  ) {
    this.resyncMs = opts.tickMs;
  }

  async resync(reader: Reader): Promise<string[]> {
    return (await reader.list('Node')).items.map((n) => n.metadata.name);
  }

  async reconcile(name: string): Promise<{ requeueAfterMs?: number } | void> {
    const node = await this.reader.get('Node', undefined, name);
    if (!node) return;
    const now = (this.opts.now ?? Date.now)();
    const seen = this.opts.seenAt(name);
    const silentMs = now - (seen ?? this.opts.startedAt);
    const status = node.status ?? { phase: 'Pending' as const, conditions: [] };
    const alive = seen !== undefined && silentMs < this.opts.notReadyAfterMs;

    if (alive && status.phase !== 'Ready') {
      const offline = status.phase === 'NotReady' && status.since ? Math.round((now - Date.parse(status.since)) / 1000) : undefined;
      await this.setPhase(node, 'Ready', now);
      await this.event(name, 'NodeReady', offline !== undefined ? `agent back after ${offline} s offline` : 'agent connected', 'Normal', now);
      return;
    }
    // A node heard from once (Ready, or Pending that never got further) that falls silent is NotReady.
    if (!alive && (status.phase === 'Ready' || (status.phase === 'Pending' && seen !== undefined)) && silentMs >= this.opts.notReadyAfterMs) {
      await this.setPhase(node, 'NotReady', now);
      await this.event(name, 'NodeNotReady', `no heartbeat for ${Math.round(silentMs / 1000)} s; instances keep running on the node if it is up (autonomy)`, 'Warning', now);
      return;
    }
    // The grace runs from when the node went NotReady, or from the center's start if
    // later: after a center outage, agents get the full grace to reconnect.
    const notReadyFor = status.since ? now - Math.max(Date.parse(status.since), this.opts.startedAt) : 0;
    if (status.phase === 'NotReady' && notReadyFor >= this.opts.evictAfterMs) {
      const mine = (await this.reader.list('Instance')).items.filter((i) => i.spec.node === name);
      for (const i of mine) {
        try {
          await this.store.delete('Instance', i.metadata.project, i.metadata.name);
        } catch (e) {
          if (!(e instanceof NotFoundError)) throw e;
        }
      }
      if (mine.length) {
        await this.event(name, 'InstancesEvicted', `${mine.length} instance(s) rescheduled after ${Math.round(this.opts.evictAfterMs / 1000)} s NotReady: ${mine.map((i) => i.metadata.name).join(', ')}`, 'Warning', now);
      }
    }
  }

  private async setPhase(node: Node, phase: 'Ready' | 'NotReady', now: number): Promise<void> {
    const status = node.status ?? { phase: 'Pending' as const, conditions: [] };
    try {
      await this.store.updateStatus('Node', undefined, node.metadata.name, { ...status, phase, since: new Date(now).toISOString() }, { expectRevision: node.metadata.revision });
    } catch (e) {
      // A heartbeat status write got there first; the next tick sees the fresh object.
      if (!(e instanceof ConflictError)) throw e;
      throw new Error(`node ${node.metadata.name} changed while setting ${phase}; retrying`, { cause: e });
    }
  }

  private event(node: string, reason: string, message: string, type: 'Normal' | 'Warning', now: number): Promise<void> {
    return recordEvent(this.store, { involved: { kind: 'Node', name: node }, reason, message, type, at: new Date(now).toISOString(), source: 'center' });
  }
}
