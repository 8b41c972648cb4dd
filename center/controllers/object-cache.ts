import { KINDS, matchesSelector, type KindName, type KindOf, type Resource, DEFAULT_PROJECT } from '../../core/index.ts';
import type { Change, ListOptions, Store } from '../store/store.ts';
import { holdChanges } from '../store/change-feed.ts';

/** What controllers read: the Store's read methods, served from memory or the store itself. */
export type Reader = Pick<Store, 'get' | 'list'>;

/**
 * An informer-style cache of the kinds controllers read (client-go's listers):
 * listed once, then kept current from the store's change stream, so a
 * reconcile reads memory instead of re-reading and re-parsing every object.
 * It may lag a write by one notification; reconcilers are level-based and
 * guard their writes with expected revisions, so that is safe.
 */
export class ObjectCache implements Reader {
  private readonly objects = new Map<string, Map<string, Resource>>();
  private revision = 0;
  private unsubscribe: (() => void) | null = null;
  private readonly listeners: ((obj: Resource, deleted: boolean) => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly kinds: string[],
  ) {}

  /** Subscribes first and lists second, so no change falls between the two. */
  async start(): Promise<void> {
    const feed = holdChanges(this.store);
    this.unsubscribe = feed.stop;
    for (const kind of this.kinds) {
      const { items, revision } = await this.store.list(kind);
      this.objects.set(kind, new Map(items.map((o) => [keyOf(o), o])));
      this.revision = Math.max(this.revision, revision);
    }
    // A held change newer than an object's listed state wins; deletions included.
    feed.live((c) => this.apply(c));
  }

  /** Whether start() has listed every kind (reads before that would find nothing). */
  get started(): boolean {
    return this.objects.size === this.kinds.length;
  }

  stop(): void {
    this.unsubscribe?.();
  }

  /**
   * Replays every held object to `fn`, then calls it for each change the cache
   * applies, in one synchronous step so that nothing falls between the two.
   */
  attach(fn: (obj: Resource, deleted: boolean) => void): void {
    for (const bucket of this.objects.values()) for (const o of bucket.values()) fn(o, false);
    this.listeners.push(fn);
  }

  get<K extends KindName>(kind: K, project: string | undefined, name: string): Promise<KindOf<K> | undefined>;
  get(kind: string, project: string | undefined, name: string): Promise<Resource | undefined>;
  async get(kind: string, project: string | undefined, name: string): Promise<Resource | undefined> {
    const namespaced = (KINDS as Record<string, { namespaced: boolean }>)[kind]?.namespaced;
    return this.bucket(kind).get(`${namespaced ? (project ?? DEFAULT_PROJECT) : ''}/${name}`);
  }

  list<K extends KindName>(kind: K, opts?: ListOptions): Promise<{ items: KindOf<K>[]; revision: number }>;
  list(kind: string, opts?: ListOptions): Promise<{ items: Resource[]; revision: number }>;
  async list(kind: string, opts: ListOptions = {}): Promise<{ items: Resource[]; revision: number }> {
    const items = [...this.bucket(kind).values()].filter(
      (o) => (opts.project === undefined || o.metadata.project === opts.project) && (!opts.selector?.length || matchesSelector(opts.selector, o.metadata.labels)),
    );
    return { items, revision: this.revision };
  }

  private apply(c: Change): void {
    this.revision = Math.max(this.revision, c.revision);
    const bucket = this.objects.get(c.object.kind);
    if (!bucket) return;
    const key = keyOf(c.object);
    const held = bucket.get(key);
    if (held && (held.metadata.revision ?? 0) >= c.revision) return;
    if (c.type === 'DELETED') bucket.delete(key);
    else bucket.set(key, c.object);
    for (const fn of this.listeners) fn(c.object, c.type === 'DELETED');
  }

  private bucket(kind: string): Map<string, Resource> {
    const b = this.objects.get(kind);
    if (!b) throw new Error(`ObjectCache does not hold ${kind}`);
    return b;
  }
}

function keyOf(o: Resource): string {
  return `${o.metadata.project ?? ''}/${o.metadata.name}`;
}
