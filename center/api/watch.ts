import type { FastifyReply, FastifyRequest } from 'fastify';
import { matchesSelector, type Resource, type Selector } from '../../core/index.ts';
import type { Change, Store } from '../store/store.ts';
import { changesAfter, holdChanges } from '../store/change-feed.ts';

const BOOKMARK_MS = 15_000;

/**
 * Streams changes as NDJSON lines `{type, revision, object}` from `since`
 * (exclusive; default: now) and then live, in revision order without gaps or
 * duplicates. A compacted `since` fails with 410 before anything is sent.
 * Bookmark lines `{type: "BOOKMARK", revision}` keep idle streams alive.
 */
export async function streamWatch(
  store: Store,
  req: FastifyRequest,
  reply: FastifyReply,
  f: { kind: string; project?: string; selector: Selector; since?: number; visible?: (o: Resource) => boolean },
): Promise<void> {
  const feed = holdChanges(store);
  let last = f.since ?? (await store.currentRevision());
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
    res.write(JSON.stringify({ type: c.type, revision: c.revision, object: c.object }) + '\n');
  };
  backlog.forEach(send);
  feed.live(send);
  const bookmark = setInterval(() => res.write(JSON.stringify({ type: 'BOOKMARK', revision: last }) + '\n'), BOOKMARK_MS);
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


function matches(c: Change, f: { kind: string; project?: string; selector: Selector; visible?: (o: Resource) => boolean }): boolean {
  return (
    c.object.kind === f.kind &&
    (f.project === undefined || c.object.metadata.project === f.project) &&
    matchesSelector(f.selector, c.object.metadata.labels) &&
    (f.visible?.(c.object) ?? true)
  );
}
