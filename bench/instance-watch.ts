import type { ApiClient, Instance } from '../core/index.ts';
import { waitFor } from '../testkit/index.ts';

export interface Marks {
  created?: number;
  bound?: number;
  starting?: number;
  running?: number;
}

/**
 * Follows the center's Instance watch stream and notes, per service, when
 * its first instance was first seen Running (performance.now() in this
 * process), and which instances still exist.
 */
export class InstanceWatch {
  private readonly runningAt = new Map<string, number>();
  /** Per service, when its first instance was first seen created, bound to a node, Starting; for the breakdown. */
  private readonly marks = new Map<string, Marks>();
  private readonly live = new Map<string, string>(); // instance -> service
  private readonly ctl = new AbortController();
  private waiters = new Set<() => void>();
  private failure: Error | null = null;
  private lastEventAt = performance.now();
  private readonly done: Promise<void>;

  private constructor(api: ApiClient, since: number) {
    this.done = this.follow(api, since);
  }

  /** Starts watching from the current revision, so nothing applied afterwards is missed. */
  static async open(api: ApiClient): Promise<InstanceWatch> {
    const { revision } = await api.list('Instance');
    return new InstanceWatch(api, revision);
  }

  runningSince(service: string): number | undefined {
    return this.runningAt.get(service);
  }

  marksOf(service: string): Marks {
    return { ...this.marks.get(service), running: this.runningAt.get(service) };
  }

  /** Resolves once every service in `services` has had an instance Running. */
  untilRunning(services: string[], timeoutMs: number): Promise<void> {
    return this.until(() => services.every((s) => this.runningAt.has(s)), timeoutMs, () => {
      const missing = services.filter((s) => !this.runningAt.has(s));
      return `${missing.length} of ${services.length} services never reached Running (e.g. ${missing.slice(0, 3).join(', ')})`;
    });
  }

  /** Resolves once no instance of `services` is left in the store. */
  untilGone(services: string[], timeoutMs: number): Promise<void> {
    const set = new Set(services);
    const left = () => [...this.live.values()].filter((s) => set.has(s)).length;
    return this.until(() => left() === 0, timeoutMs, () => `${left()} instances of deleted services still exist`);
  }

  /** Resolves once no Instance has changed for `quietMs`. */
  async untilQuiet(quietMs: number, timeoutMs: number): Promise<void> {
    await waitFor(() => performance.now() - this.lastEventAt >= quietMs, timeoutMs, `no Instance change for ${quietMs} ms`, 100);
  }

  async close(): Promise<void> {
    this.ctl.abort();
    await this.done;
  }

  private async follow(api: ApiClient, since: number): Promise<void> {
    try {
      for await (const ev of api.watch('Instance', { since, signal: this.ctl.signal })) {
        const at = performance.now();
        const inst = ev.object as Instance | undefined;
        if (!inst) continue; // bookmark
        this.lastEventAt = at;
        const service = inst.spec.service ?? inst.metadata.name;
        if (ev.type === 'DELETED') this.live.delete(inst.metadata.name);
        else {
          this.live.set(inst.metadata.name, service);
          const m = this.marks.get(service) ?? {};
          m.created ??= at;
          if (inst.spec.node) m.bound ??= at;
          if (inst.status?.phase === 'Starting' || inst.status?.phase === 'Running') m.starting ??= at;
          this.marks.set(service, m);
          if (inst.status?.phase === 'Running' && !this.runningAt.has(service)) this.runningAt.set(service, at);
        }
        this.wake();
      }
      if (!this.ctl.signal.aborted) this.failure = new Error('the center closed the Instance watch stream');
    } catch (e) {
      if (!this.ctl.signal.aborted) this.failure = e instanceof Error ? e : new Error(String(e));
    }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  private until(pred: () => boolean, timeoutMs: number, why: () => string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.failure) finish(this.failure);
        else if (pred()) finish();
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms: ${why()}`)), timeoutMs);
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      this.waiters.add(check);
      check();
    });
  }
}
