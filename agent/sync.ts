import { projectOf } from '../core/index.ts';
import type { CenterMessage, EdgeObject, Instance } from '../core/index.ts';

/**
 * The agent side of revision sync, pure: given the desired objects (the
 * node's instances, its site's devices, credentials, commands, and routes)
 * and the applied revision, what one message from the center changes.
 * Changes at or below the applied revision are duplicates and ignored; a
 * snapshot replaces everything; `synced` only moves the revision forward.
 */
export interface SyncState {
  revision: number;
  /** The desired objects, by `objectKey`. */
  objects: { has(key: string): boolean; keys(): Iterable<string> };
}

export interface SyncStep {
  revision: number;
  put: EdgeObject[];
  /** Keys (`objectKey`) of objects to remove. */
  remove: string[];
  /** True for a snapshot: anything not in `put` goes. */
  replaceAll: boolean;
}

/** The local id of an instance (also its log directory's name). */
export const instanceId = (i: Instance): string => `${projectOf(i)}.${i.metadata.name}`;

/** The key of any synced object: kind, project and name. */
export const objectKey = (o: EdgeObject): string => `${o.kind}/${projectOf(o)}/${o.metadata.name}`;

export function step(state: SyncState, msg: CenterMessage): SyncStep | null {
  switch (msg.t) {
    case 'change': {
      if (msg.revision <= state.revision) return null;
      const key = objectKey(msg.object);
      if (msg.op === 'delete') return { revision: msg.revision, put: [], remove: state.objects.has(key) ? [key] : [], replaceAll: false };
      return { revision: msg.revision, put: [msg.object], remove: [], replaceAll: false };
    }
    case 'forget': {
      if (msg.revision <= state.revision) return null;
      const key = `${msg.kind}/${msg.project}/${msg.name}`;
      return { revision: msg.revision, put: [], remove: state.objects.has(key) ? [key] : [], replaceAll: false };
    }
    case 'snapshot': {
      const keep = new Set(msg.objects.map(objectKey));
      const remove: string[] = [];
      for (const k of state.objects.keys()) if (!keep.has(k)) remove.push(k);
      return { revision: msg.revision, put: msg.objects, remove, replaceAll: true };
    }
    case 'synced':
      return msg.revision > state.revision ? { revision: msg.revision, put: [], remove: [], replaceAll: false } : null;
    default:
      return null;
  }
}

/** A step's instance part, by instance id, for the workloads. */
export function instancePart(s: SyncStep): { put: Instance[]; remove: string[] } {
  const put: Instance[] = [];
  for (const o of s.put) if (o.kind === 'Instance') put.push(o);
  const remove: string[] = [];
  for (const k of s.remove) {
    if (!k.startsWith('Instance/')) continue;
    const [, project, name] = k.split('/') as [string, string, string];
    remove.push(`${project}.${name}`);
  }
  return { put, remove };
}

/** Where the agent is with the center: what it may send, and what its catch-up brought. */
export type SyncPhase = { name: 'offline' } | { name: 'catching-up'; mode: 'delta' | 'snapshot'; changes: number } | { name: 'live' };

/**
 * The agent's sync phases, one state machine: offline until a welcome, then
 * catching up (counting the changes the catch-up brings) until `synced`,
 * then live until the connection drops. Reports (statuses, events, rules,
 * devices) flow only while live, after the center has told everything it
 * had: what the agent says then is about the same revision the center is at.
 */
export class SyncPhases {
  private phase: SyncPhase = { name: 'offline' };

  get current(): SyncPhase {
    return this.phase;
  }

  get live(): boolean {
    return this.phase.name === 'live';
  }

  get catchingUp(): boolean {
    return this.phase.name === 'catching-up';
  }

  /** A message from the center moves the phase; `synced` ending a catch-up returns what it brought. */
  on(m: CenterMessage): { mode: 'delta' | 'snapshot'; changes: number } | undefined {
    const p = this.phase;
    if (m.t === 'welcome') this.phase = { name: 'catching-up', mode: m.mode, changes: 0 };
    else if (m.t === 'change' && p.name === 'catching-up') p.changes++;
    else if (m.t === 'synced' && p.name === 'catching-up') {
      this.phase = { name: 'live' };
      return { mode: p.mode, changes: p.changes };
    }
    return undefined;
  }

  /** The connection dropped: nothing is reported until the next catch-up ends. */
  disconnected(): void {
    this.phase = { name: 'offline' };
  }
}
