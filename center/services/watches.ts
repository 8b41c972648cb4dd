import { ValidationError, lookupKind, matchesSelector, type Resource, type Selector } from '../../core/index.ts';
import type { Change, Store } from '../store/store.ts';
import { changesAfter, holdChanges } from '../store/change-feed.ts';

/** What a watch carries: objects of these kinds, of one project (cluster-scoped kinds: all) or all, matching the selector and visible to the caller. */
export interface WatchFilter {
  kinds: ReadonlySet<string>;
  project?: string;
  selector: Selector;
  /** Exclusive; default: now. */
  since?: number;
  visible?: (o: Resource) => boolean;
}

export type WatchEvent = Change;

/** One open watch: its backlog and then live changes, in revision order, each once. */
export interface Watch {
  /** The last revision passed over, whether it matched or not (a bookmark names it). */
  revision(): number;
  /** Sends the backlog at once, then every live change as it commits; only changes that match the filter. */
  start(send: (e: WatchEvent) => void): void;
  stop(): void;
}

/**
 * Watches over the store's change feed, apart from any transport (the watch
 * routes write them as NDJSON). A compacted `since` fails with 410 before
 * anything is held, one past the store's revision with 422 (a revision from
 * another store, or from before a restore: the watch would skip every change
 * up to it).
 */
export class Watches {
  constructor(private readonly store: Store) {}

  async open(f: WatchFilter): Promise<Watch> {
    const feed = holdChanges(this.store);
    let last: number;
    const backlog: Change[] = [];
    try {
      const now = await this.store.currentRevision();
      if (f.since !== undefined && f.since > now) {
        throw new ValidationError(`since ${f.since} is past the store's revision ${now}`, { details: [{ path: 'query.since', message: `at most ${now}, the revision of a list or an earlier watch` }] });
      }
      last = f.since ?? now;
      if (f.since !== undefined) for await (const c of changesAfter(this.store, f.since)) backlog.push(c);
    } catch (e) {
      feed.stop();
      throw e;
    }
    return {
      revision: () => last,
      start(send) {
        const pass = (c: Change) => {
          if (c.revision <= last) return;
          last = c.revision;
          if (matches(c, f)) send(c);
        };
        backlog.splice(0).forEach(pass);
        feed.live(pass);
      },
      stop: () => feed.stop(),
    };
  }
}

function matches(c: Change, f: WatchFilter): boolean {
  return (
    f.kinds.has(c.object.kind) &&
    (f.project === undefined || !lookupKind(c.object.kind)?.namespaced || c.object.metadata.project === f.project) &&
    matchesSelector(f.selector, c.object.metadata.labels) &&
    (f.visible?.(c.object) ?? true)
  );
}
