import { NotFoundError, nowIso, type DeviceCommand, durationMs, nameKey, projectKey, projectOf, splitNameKey } from '../../core/index.ts';
import { recordEvent } from '../events.ts';
import type { Store } from '../store/store.ts';
import { watch, type Reconciler } from './controller.ts';
import type { Reader } from './object-cache.ts';

export interface DeviceControllerOptions {
  /** A Delivered or Expired command is deleted this long after it finished. */
  commandRetentionMs: number;
  now?: () => number;
}

/** Look again at most this far ahead (setTimeout's limit is ~24.8 days; the manager's resync also looks). */
const MAX_REQUEUE_MS = 3_600_000;
/** Names listed in one removal Event. */
const EVENT_NAMES = 20;

/**
 * Keeps what belongs to a device consistent with it, keyed `project/device`:
 * once the device is gone, its credentials and commands go too (the edges
 * then forget them); a command still Pending past its TTL becomes Expired
 * (its edge, which may be offline, drops it on its own clock as well); a
 * finished command (Delivered or Expired) is deleted `commandRetentionMs`
 * after it finished, with an Event on the device.
 */
export class DeviceController implements Reconciler {
  readonly name = 'device';
  readonly watches = [
    watch('Device', (e) => [projectKey(e.object)]),
    watch('DeviceCredential', (e) => (e.statusOnly ? [] : [nameKey(projectOf(e.object), e.object.spec.device)])),
    // A command's status change may finish it: its retention starts then.
    watch('DeviceCommand', (e) => [nameKey(projectOf(e.object), e.object.spec.device)]),
  ];

  constructor(
    private readonly store: Store,
    private readonly opts: DeviceControllerOptions,
    private readonly reader: Reader = store,
  ) {}

  /** Every device, and the devices of credentials and commands (whose device may have gone while the center was down). */
  async resync(reader: Reader): Promise<Set<string>> {
    const keys = new Set((await reader.list('Device')).items.map(projectKey));
    for (const c of (await reader.list('DeviceCredential')).items) keys.add(nameKey(projectOf(c), c.spec.device));
    for (const c of (await reader.list('DeviceCommand')).items) keys.add(nameKey(projectOf(c), c.spec.device));
    return keys;
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const [project, device] = splitNameKey(key);
    const exists = await this.reader.get('Device', project, device);
    const creds = (await this.reader.list('DeviceCredential', { project })).items;
    const commands = (await this.reader.list('DeviceCommand', { project })).items.filter((c) => c.spec.device === device);
    if (!exists) {
      for (const o of [...creds.filter((c) => c.spec.device === device), ...commands]) await this.remove(o.kind, project, o.metadata.name);
      return;
    }
    let next = Infinity;
    const now = (this.opts.now ?? Date.now)();
    const removed: string[] = [];
    for (const c of commands) {
      let phase = c.status?.phase ?? 'Pending';
      const expiresAt = Date.parse(c.metadata.createdAt ?? nowIso()) + durationMs(c.spec.ttl);
      if (phase === 'Pending') {
        if (expiresAt > now) {
          next = Math.min(next, expiresAt - now);
          continue;
        }
        await this.store.updateStatus('DeviceCommand', project, c.metadata.name, { ...c.status, phase: 'Expired', message: `not delivered within ${c.spec.ttl}` });
        phase = 'Expired';
      }
      const due = finishedAt(c, phase, expiresAt) + this.opts.commandRetentionMs;
      if (due > now) {
        next = Math.min(next, due - now);
        continue;
      }
      if (await this.remove('DeviceCommand', project, c.metadata.name)) removed.push(c.metadata.name);
    }
    if (removed.length) {
      const names = removed.slice(0, EVENT_NAMES).join(', ') + (removed.length > EVENT_NAMES ? `, and ${removed.length - EVENT_NAMES} more` : '');
      await recordEvent(this.store, {
        involved: { kind: 'Device', name: device, project },
        reason: 'CommandsRemoved',
        message: `${removed.length} finished command(s) deleted ${this.opts.commandRetentionMs} ms after they finished: ${names}`,
        type: 'Normal',
        at: new Date(now).toISOString(),
        source: 'center',
      });
    }
    return next < Infinity ? { requeueAfterMs: Math.min(next, MAX_REQUEUE_MS) + 50 } : undefined;
  }

  /** Deletes if still there; false when it was already gone. */
  private async remove(kind: string, project: string, name: string): Promise<boolean> {
    try {
      await this.store.delete(kind, project, name);
      return true;
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      return false;
    }
  }
}

/** When a command finished: its delivery (its creation if the edge did not say when), or the end of its TTL. */
function finishedAt(c: DeviceCommand, phase: 'Delivered' | 'Expired', expiresAt: number): number {
  if (phase === 'Expired') return expiresAt;
  const at = Date.parse(c.status?.deliveredAt ?? c.metadata.createdAt ?? '');
  return Number.isNaN(at) ? expiresAt : at;
}
