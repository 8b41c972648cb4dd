import type { KindName, KindOf, Resource } from '../../core/index.ts';
import type { Selector } from '../../core/selector.ts';

/**
 * The center's store. Every write gets the next value of one global,
 * strictly increasing revision and appends a row to the change log, so that
 * watchers and agents can resume from any revision that was not compacted.
 * Implementations: SQLite (embedded default) and PostgreSQL; both must pass
 * `store-contract.ts`.
 */
export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  revision: number;
  type: ChangeType;
  /** True when only `status` changed (no spec, label or generation change). */
  statusOnly: boolean;
  /** The object after the change; for DELETED, the object as it was last stored. */
  object: Resource;
}

export interface ListOptions {
  /** Only this project (namespaced kinds). Omit for every project. */
  project?: string;
  selector?: Selector;
  /** A page: at most this many objects, in (project, name) order... */
  limit?: number;
  /** ...after this one (the last of the previous page). */
  after?: { project: string; name: string };
}

export type ApplyAction = 'created' | 'configured' | 'unchanged';
export interface ApplyResult {
  action: ApplyAction;
  object: Resource;
}

export interface WriteOptions {
  /** Fail with ConflictError unless the stored revision equals this one. */
  expectRevision?: number;
  /** update(): also replace the status with the object's, in the same write (e.g. a binding and its explanation). */
  withStatus?: boolean;
}

/** admin: everything; user: the namespaced objects, logs and exec of its projects; join: one node join; node: an agent. */
/** metrics: read /metrics and nothing else (a Prometheus scraper's). */
export type TokenKind = 'admin' | 'certificate' | 'join' | 'metrics' | 'node' | 'user';
export interface TokenRecord {
  id: string;
  kind: TokenKind;
  /** sha256 of the secret part; secrets are never stored. */
  hash: string;
  description: string;
  /** For join tokens: the site the joining node belongs to. For node tokens: the node name. */
  subject: string | null;
  /** For user tokens: the projects it may use (empty for every other kind). */
  projects: string[];
  createdAt: string;
  expiresAt: string | null;
  usedAt: string | null;
}

export interface TokenFilter {
  subject?: string;
  kinds?: TokenKind[];
}

export interface TokenStore {
  insert(t: TokenRecord): Promise<void>;
  get(id: string): Promise<TokenRecord | undefined>;
  /** Oldest first; `filter` narrows by subject and kinds in the query (an index on subject, kind), not after. */
  list(filter?: TokenFilter): Promise<TokenRecord[]>;
  /** Marks a single-use token used; false when it was already used (so two racing joins cannot both win). */
  markUsed(id: string, at: string): Promise<boolean>;
  delete(id: string): Promise<boolean>;
}

/** Whose uplink progress: a node's messages for one route. */
export interface UplinkProgressKey {
  node: string;
  project: string;
  route: string;
}
export interface UplinkRecord {
  seq: number;
  topic: string;
  device?: string;
  qos: number;
  /** When the edge received it (ISO 8601). */
  at: string;
  payload: Buffer;
}
export interface StoredUplinkMessage extends UplinkRecord {
  id: number;
  node: string;
  receivedAt: string;
}

/** Uplink progress per (node, route) and the table sink's rows. */
export interface UplinkStore {
  /** The highest seq landed for this key (0 when none). */
  progress(key: UplinkProgressKey): Promise<number>;
  /**
   * In one transaction: skips messages (seq ascending) at or below the
   * recorded progress, stores the rest as rows when `rows` is set (the table
   * sink), and moves the progress to the last seq. Returns the progress and
   * how many messages were new.
   */
  record(key: UplinkProgressKey, routeUid: string, messages: UplinkRecord[], opts: { rows: boolean }): Promise<{ ackedSeq: number; fresh: number }>;
  /** Messages landed for a route from every node, since the Route with this uid was created. */
  delivered(project: string, route: string, routeUid: string): Promise<number>;
  /** Stored rows oldest first: after the `after` id, or else the newest `limit`. */
  messages(project: string, route: string, q: { device?: string; after?: number; limit: number }): Promise<StoredUplinkMessage[]>;
  /** Every (project, route) any node ever sent; a superset of those with rows (each row has its progress). */
  uplinkRoutes(): Promise<{ project: string; route: string }[]>;
  /** The id of a route's `n`-th newest row below `belowId` (of all its rows when unset); undefined when there are fewer. */
  nthNewestId(project: string, route: string, n: number, belowId?: number): Promise<number | undefined>;
  /**
   * Deletes among a route's `limit` oldest rows (below `belowId` when set)
   * those that landed before `receivedBefore` (all of them when unset), in
   * one statement; returns how many went. Progress is not touched.
   */
  prune(project: string, route: string, q: { limit: number; belowId?: number; receivedBefore?: string }): Promise<number>;
}

export type ChangeListener = (c: Change) => void;

export interface Store {
  /** How durable a commit is, read back from the live connection: "sqlite synchronous=FULL", "postgresql synchronous_commit=on". */
  durability(): Promise<string>;
  /** Writes committed so far and the transactions that carried them (writes that queue up share one commit). */
  commitStats(): { commits: number; writes: number };
  /** Typed by the kind when it is a literal (`get('Instance', …)` is an Instance); any kind by name otherwise. */
  get<K extends KindName>(kind: K, project: string | undefined, name: string): Promise<KindOf<K> | undefined>;
  get(kind: string, project: string | undefined, name: string): Promise<Resource | undefined>;
  list<K extends KindName>(kind: K, opts?: ListOptions): Promise<{ items: KindOf<K>[]; revision: number }>;
  list(kind: string, opts?: ListOptions): Promise<{ items: Resource[]; revision: number }>;
  /** Creates; AlreadyExistsError when the name is taken. The stored object is of the kind written (`create(instance)` is an Instance). */
  create<T extends Resource>(obj: T): Promise<KindOf<T['kind']>>;
  /**
   * Create-or-update each object by name, all or nothing, in one transaction.
   * Idempotent: an object equal to the stored one is `unchanged` and takes no
   * revision. A caller-supplied metadata.revision must match the stored one.
   * Status is never written by apply.
   */
  apply(objs: Resource[]): Promise<ApplyResult[]>;
  /** Replaces spec and labels of an existing object (NotFoundError otherwise); typed by the kind written, as create. */
  update<T extends Resource>(obj: T, opts?: WriteOptions): Promise<KindOf<T['kind']>>;
  /** Replaces only the status; the change is flagged statusOnly. */
  updateStatus(kind: string, project: string | undefined, name: string, status: unknown, opts?: WriteOptions): Promise<Resource>;
  delete(kind: string, project: string | undefined, name: string, opts?: WriteOptions): Promise<Resource>;

  /** Changes with revision > `since`, oldest first. GoneError when `since` is older than the compaction point. */
  changesSince(since: number, limit?: number): Promise<Change[]>;
  currentRevision(): Promise<number>;
  /** Changes at or below this revision are gone; resuming from an older revision needs a full relist. */
  compactedRevision(): Promise<number>;
  /** Drops change-log rows with revision <= `upTo` (never past the current revision). Returns rows removed. */
  compact(upTo: number): Promise<number>;
  /** Live changes in commit order, after they are durable. Returns an unsubscribe function. */
  subscribe(fn: ChangeListener): () => void;

  readonly tokens: TokenStore;
  readonly uplink: UplinkStore;
  close(): Promise<void>;
}
