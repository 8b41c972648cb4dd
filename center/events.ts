import { randomBytes } from 'node:crypto';
import type { GedgeEvent } from '../core/index.ts';
import type { Store } from './store/store.ts';

export interface EventInput {
  involved: { kind: string; name: string; project?: string };
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
  at: string;
  source: string;
}

/** Records an Event object, labelled so `describe` can find the events of any object. */
export async function recordEvent(store: Store, e: EventInput): Promise<void> {
  const base = e.involved.name.slice(0, 50).replace(/-+$/, '');
  const ev: GedgeEvent = {
    apiVersion: 'gedge.io/v1',
    kind: 'Event',
    metadata: {
      name: `${base}.${randomBytes(5).toString('hex')}`,
      labels: { 'gedge.io/involved-kind': e.involved.kind, 'gedge.io/involved-name': e.involved.name },
    },
    spec: { ...e, message: e.message.slice(0, 4096) },
  };
  await store.create(ev);
}
