import { NotFoundError, nowIso, type DeviceCommand, type DeviceCredential } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import type { Reconciler } from './controller.ts';
import type { Reader } from './object-cache.ts';

/**
 * Keeps what belongs to a device consistent with it, keyed `project/device`:
 * once the device is gone, its credentials and commands go too (the edges
 * then forget them); a command still Pending past its TTL becomes Expired
 * (its edge, which may be offline, drops it on its own clock as well).
 */
export class DeviceController implements Reconciler {
  readonly name = 'device';

  constructor(
    private readonly store: Store,
    private readonly reader: Reader = store,
  ) {}

  async reconcile(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const [project, device] = key.split('/') as [string, string];
    const exists = await this.reader.get('Device', project, device);
    const creds = (await this.reader.list('DeviceCredential', { project })).items as DeviceCredential[];
    const commands = (await this.reader.list('DeviceCommand', { project })).items as DeviceCommand[];
    if (!exists) {
      for (const o of [...creds, ...commands]) if (o.spec.device === device) await this.remove(o.kind, project, o.metadata.name);
      return;
    }
    let next = Infinity;
    const now = Date.now();
    for (const c of commands) {
      if (c.spec.device !== device || (c.status?.phase ?? 'Pending') !== 'Pending') continue;
      const due = Date.parse(c.metadata.createdAt ?? nowIso()) + c.spec.ttlMs;
      if (due <= now) {
        await this.store.updateStatus('DeviceCommand', project, c.metadata.name, { ...c.status, phase: 'Expired', message: `not delivered within ${c.spec.ttlMs} ms` });
      } else next = Math.min(next, due - now);
    }
    return next < Infinity ? { requeueAfterMs: next + 50 } : undefined;
  }

  private async remove(kind: string, project: string, name: string): Promise<void> {
    try {
      await this.store.delete(kind, project, name);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }
}
