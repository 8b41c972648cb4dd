import type { FastifyReply, FastifyRequest } from 'fastify';
import { redactSecrets } from '../../core/index.ts';
import type { WatchFilter, Watches } from '../services/watches.ts';

const BOOKMARK_MS = 15_000;

/**
 * Streams a watch as NDJSON lines `{type, revision, object}` (secrets
 * redacted as they leave). Bookmark lines `{type: "BOOKMARK", revision}`
 * keep idle streams alive; the first one is sent at once and names the
 * revision the stream starts after, so a client can list after it and drop
 * what the list already covers. Refusals (a compacted or future `since`)
 * come before anything is sent, as JSON errors.
 */
export async function streamWatch(watches: Watches, req: FastifyRequest, reply: FastifyReply, f: WatchFilter): Promise<void> {
  const watch = await watches.open(f);
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  const sendBookmark = () => res.write(JSON.stringify({ type: 'BOOKMARK', revision: watch.revision() }) + '\n');
  sendBookmark();
  watch.start((c) => res.write(JSON.stringify({ type: c.type, revision: c.revision, object: redactSecrets(c.object) }) + '\n'));
  const bookmark = setInterval(sendBookmark, BOOKMARK_MS);
  await new Promise<void>((resolve) => {
    const done = () => {
      clearInterval(bookmark);
      watch.stop();
      resolve();
    };
    req.raw.on('close', done);
    res.on('close', done);
  });
}
