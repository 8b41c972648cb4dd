import type { FastifyReply, FastifyRequest } from 'fastify';
import { ValidationError, lookupKind, matchesSelector, redactSecrets, type Resource, type Selector } from '../../core/index.ts';
import type { Change, Store } from '../store/store.ts';
import { changesAfter, holdChanges } from '../store/change-feed.ts';

const BOOKMARK_MS = 15_000;

/** What a watch stream carries: objects of these kinds, of one project (cluster-scoped kinds: all) or all, matching the selector and visible to the caller. */
export interface WatchFilter {
  kinds: ReadonlySet<string>;
  project?: string;
  selector: Selector;
  since?: number;
  visible?: (o: Resource) => boolean;
}

/**
 * Streams changes as NDJSON lines `{type, revision, object}` from `since`
 * (exclusive; default: now) and then live, in revision order without gaps or
 * duplicates. A compacted `since` fails with 410 before anything is sent,
 * one past the store's revision with 422 (a revision from another store, or
 * from before a restore: the stream would skip every change up to it).
 * Bookmark lines `{type: "BOOKMARK", revision}` keep idle streams alive; the
 * first one is sent at once and names the revision the stream starts after,
 * so a client can list after it and drop what the list already covers.
 */
export async function streamWatch(
  store: Store,
  req: FastifyRequest,
  reply: FastifyReply,
  f: WatchFilter,
): Promise<void> {
  const feed = holdChanges(store);
  const now = await store.currentRevision();
  if (f.since !== undefined && f.since > now) {
    feed.stop();
    throw new ValidationError(`since ${f.since} is past the store's revision ${now}`, { details: [{ path: 'query.since', message: `at most ${now}, the revision of a list or an earlier watch` }] });
  }
  let last = f.since ?? now;
  const backlog: Change[] = [];
  try {
    if (f.since !== undefined) for await (const c of changesAfter(store, f.since)) backlog.push(c);
  } catch (e) {
    feed.stop();
    throw e;
  }

  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  const send = (c: Change) => {
    if (c.revision <= last) return;
    last = c.revision;
    if (!matches(c, f)) return;
    res.write(JSON.stringify({ type: c.type, revision: c.revision, object: redactSecrets(c.object) }) + '\n');
  };
  const sendBookmark = () => res.write(JSON.stringify({ type: 'BOOKMARK', revision: last }) + '\n');
  sendBookmark();
  backlog.forEach(send);
  feed.live(send);
  const bookmark = setInterval(sendBookmark, BOOKMARK_MS);
  await new Promise<void>((resolve) => {
    const done = () => {
      clearInterval(bookmark);
      feed.stop();
      resolve();
    };
    req.raw.on('close', done);
    res.on('close', done);
  });
}


function matches(c: Change, f: WatchFilter): boolean {
  return (
    f.kinds.has(c.object.kind) &&
    (f.project === undefined || !lookupKind(c.object.kind)?.namespaced || c.object.metadata.project === f.project) &&
    matchesSelector(f.selector, c.object.metadata.labels) &&
    (f.visible?.(c.object) ?? true)
  );
}
