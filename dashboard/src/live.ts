import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, asApiError, path, type Api, type Obj, type WatchLine } from './api.ts';

/**
 * Everything live comes through one watch stream (`/api/v1/watch?kinds=...`):
 * a browser allows six connections per host, and log streams need some.
 * Collections list a kind once and then follow the stream; a list dropped
 * into a running stream takes only changes newer than its own revision, and
 * the stream starts before any list (its first bookmark names its start),
 * so nothing falls between the two. After a disconnect the stream resumes
 * from the last revision it saw; when that was compacted (410), every
 * collection lists again.
 */

export const WATCHED = ['projects', 'sites', 'nodes', 'services', 'instances', 'events', 'sitelinks', 'devices', 'rules', 'routes'] as const;
export type Plural = (typeof WATCHED)[number];
const KIND_OF: Record<Plural, string> = {
  projects: 'Project', sites: 'Site', nodes: 'Node', services: 'Service', instances: 'Instance', events: 'Event', sitelinks: 'SiteLink', devices: 'Device', rules: 'Rule', routes: 'Route',
};

type ChangeFn = (line: WatchLine & { object: Obj }) => void;

const keyOf = (o: Obj) => `${o.metadata.project ?? ''}/${o.metadata.name}`;

/** One kind, listed once and kept current; shared by every component that reads it. */
class Collection {
  readonly items = new Map<string, Obj>();
  loaded = false;
  error: ApiError | null = null;
  private revision = 0;
  private snapshot: Obj[] | null = null;
  private readonly listeners = new Set<() => void>();
  private notifyTimer: ReturnType<typeof setTimeout> | null = null;
  refs = 0;

  constructor(
    private readonly live: Live,
    readonly plural: Plural,
  ) {}

  async load(): Promise<void> {
    try {
      const list = await this.live.api.get<{ revision: number; items: Obj[] }>(path(this.plural));
      this.items.clear();
      for (const o of list.items) this.items.set(keyOf(o), o);
      this.revision = list.revision;
      this.loaded = true;
      this.error = null;
    } catch (e) {
      this.error = asApiError(e);
    }
    this.notify(true);
  }

  apply(line: WatchLine & { object: Obj }): void {
    if (!this.loaded || line.revision <= this.revision) return;
    this.revision = line.revision;
    if (line.type === 'DELETED') this.items.delete(keyOf(line.object));
    else this.items.set(keyOf(line.object), line.object);
    this.notify(false);
  }

  /** The items as an array that stays the same object until the collection changes (so memos keyed on it hold). */
  list(): Obj[] {
    return (this.snapshot ??= [...this.items.values()]);
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Bursts of changes (a rollout, a thousand heartbeats) render once per 100 ms. */
  private notify(now: boolean): void {
    this.snapshot = null;
    if (now) {
      if (this.notifyTimer) clearTimeout(this.notifyTimer);
      this.notifyTimer = null;
      this.listeners.forEach((fn) => fn());
      return;
    }
    this.notifyTimer ??= setTimeout(() => {
      this.notifyTimer = null;
      this.listeners.forEach((fn) => fn());
    }, 100);
  }
}

export type StreamState = 'connecting' | 'live' | 'retrying';

export class Live {
  private readonly collections = new Map<Plural, Collection>();
  private readonly changeListeners = new Set<ChangeFn>();
  private readonly stateListeners = new Set<(s: StreamState) => void>();
  private revision: number | undefined;
  private started: Promise<void>;
  private markStarted!: () => void;
  private readonly abort = new AbortController();
  state: StreamState = 'connecting';

  constructor(readonly api: Api) {
    this.started = new Promise((resolve) => (this.markStarted = resolve));
    void this.run();
  }

  close(): void {
    this.abort.abort();
  }

  collection(plural: Plural): Collection {
    let c = this.collections.get(plural);
    if (!c) {
      c = new Collection(this, plural);
      this.collections.set(plural, c);
      const created = c;
      void this.started.then(() => created.load());
    }
    return c;
  }

  /** Every change of the given kinds, as it arrives. */
  onChange(plurals: readonly Plural[], fn: ChangeFn): () => void {
    const kinds = new Set(plurals.map((p) => KIND_OF[p]));
    const wrapped: ChangeFn = (l) => kinds.has(l.object.kind) && fn(l);
    this.changeListeners.add(wrapped);
    return () => this.changeListeners.delete(wrapped);
  }

  onState(fn: (s: StreamState) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  private setState(s: StreamState): void {
    this.state = s;
    this.stateListeners.forEach((fn) => fn(s));
  }

  private async run(): Promise<void> {
    let delay = 500;
    while (!this.abort.signal.aborted) {
      try {
        const since = this.revision === undefined ? '' : `&since=${this.revision}`;
        for await (const line of this.api.lines<WatchLine>(`/api/v1/watch?kinds=${WATCHED.join(',')}${since}`, this.abort.signal)) {
          delay = 500;
          if (this.revision === undefined || line.revision > this.revision) this.revision = line.revision;
          if (line.type === 'BOOKMARK') {
            if (this.state !== 'live') this.setState('live');
            this.markStarted();
            continue;
          }
          const change = line as WatchLine & { object: Obj };
          this.byKind(change.object.kind)?.apply(change);
          this.changeListeners.forEach((fn) => fn(change));
        }
      } catch (e) {
        if (this.abort.signal.aborted) return;
        if (e instanceof ApiError && e.status === 410) {
          // Resuming is impossible: start afresh and list everything again.
          this.revision = undefined;
          this.started = new Promise((resolve) => (this.markStarted = resolve));
          const reload = [...this.collections.values()];
          void this.started.then(() => reload.forEach((c) => void c.load()));
        }
        if (e instanceof ApiError && e.status === 401) return;
      }
      this.setState('retrying');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  }

  private byKind(kind: string): Collection | undefined {
    for (const [plural, c] of this.collections) if (KIND_OF[plural] === kind) return c;
    return undefined;
  }
}

/** The items of a kind, live (re-rendered at most every 100 ms while changes stream in). */
export function useCollection<T extends Obj>(live: Live, plural: Plural): { items: T[]; loaded: boolean; error: ApiError | null } {
  const c = useMemo(() => live.collection(plural), [live, plural]);
  const [, setTick] = useState(0);
  useEffect(() => {
    const off = c.subscribe(() => setTick((n) => n + 1));
    // The effect runs after the first paint: a load that finished in between notified nobody; render what it brought.
    setTick((n) => n + 1);
    return off;
  }, [c]);
  return { items: c.list() as T[], loaded: c.loaded, error: c.error };
}

/** One object, fetched and then followed through the stream; null once deleted or when missing. */
export function useObject<T extends Obj>(live: Live, plural: Plural, name: string, project?: string): { object: T | null; loaded: boolean; error: ApiError | null } {
  const [state, setState] = useState<{ object: T | null; loaded: boolean; error: ApiError | null }>({ object: null, loaded: false, error: null });
  useEffect(() => {
    let revision = 0;
    let cancelled = false;
    const kind = KIND_OF[plural];
    const off = live.onChange([plural], (l) => {
      if (cancelled || l.object.kind !== kind || l.object.metadata.name !== name || (project && l.object.metadata.project !== project) || l.revision <= revision) return;
      revision = l.revision;
      setState({ object: l.type === 'DELETED' ? null : (l.object as T), loaded: true, error: null });
    });
    void live.api
      .get<T>(path(plural, name, project))
      .then((o) => {
        if (cancelled || (o.metadata.revision ?? 0) < revision) return;
        setState({ object: o, loaded: true, error: null });
      })
      .catch((e: unknown) => !cancelled && setState({ object: null, loaded: true, error: asApiError(e) }));
    return () => {
      cancelled = true;
      off();
    };
  }, [live, plural, name, project]);
  return state;
}

/**
 * A derived view fetched from the API and fetched again when any of `plurals`
 * changes (at most once a second). Changes drive it, not a timer.
 */
export function useLiveQuery<T>(live: Live, url: string, plurals: readonly Plural[]): { data: T | null; error: ApiError | null } {
  const [state, setState] = useState<{ data: T | null; error: ApiError | null }>({ data: null, error: null });
  const kinds = plurals.join(',');
  useEffect(() => {
    let cancelled = false;
    let again = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const fetchNow = async () => {
      try {
        const data = await live.api.get<T>(url);
        if (!cancelled) setState({ data, error: null });
      } catch (e) {
        if (!cancelled) setState((s) => ({ data: s.data, error: asApiError(e) }));
      }
    };
    const schedule = () => {
      if (timer) {
        again = true;
        return;
      }
      timer = setTimeout(() => {
        timer = null;
        void fetchNow().then(() => {
          if (again && !cancelled) {
            again = false;
            schedule();
          }
        });
      }, 1000);
    };
    void fetchNow();
    const off = live.onChange(kinds.split(',') as Plural[], schedule);
    return () => {
      cancelled = true;
      if (timer) clearTimeout(timer);
      off();
    };
  }, [live, url, kinds]);
  return state;
}
