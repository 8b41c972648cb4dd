import type { FastifyReply, FastifyRequest } from 'fastify';
import { matchesSelector, type Selector } from '../../core/index.ts';
import type { Change, Store } from '../store/store.ts';

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
  f: { kind: string; project?: string; selector: Selector; since?: number },
): Promise<void> {
  // Subscribe before reading the backlog so nothing falls between the two.
  const buffered: Change[] = [];
  let live: ((c: Change) => void) | null = null;
  const unsubscribe = store.subscribe((c) => (live ? live(c) : buffered.push(c)));
  let last = f.since ?? (await store.currentRevision());
  let backlog: Change[];
  try {
    backlog = f.since === undefined ? [] : await readAll(store, f.since);
  } catch (e) {
    unsubscribe();
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
  buffered.forEach(send);
  live = send;
  const bookmark = setInterval(() => res.write(JSON.stringify({ type: 'BOOKMARK', revision: last }) + '\n'), BOOKMARK_MS);
  await new Promise<void>((resolve) => {
    const done = () => {
      clearInterval(bookmark);
      unsubscribe();
      resolve();
    };
    req.raw.on('close', done);
    res.on('close', done);
  });
}

async function readAll(store: Store, since: number): Promise<Change[]> {
  const out: Change[] = [];
  for (let from = since; ; ) {
    const page = await store.changesSince(from, 5000);
    out.push(...page);
    if (page.length < 5000) return out;
    from = page.at(-1)!.revision;
  }
}

function matches(c: Change, f: { kind: string; project?: string; selector: Selector }): boolean {
  return (
    c.object.kind === f.kind &&
    (f.project === undefined || c.object.metadata.project === f.project) &&
    matchesSelector(f.selector, c.object.metadata.labels)
  );
}
