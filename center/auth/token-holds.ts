import type { TokenRecord, Store } from '../store/store.ts';

/** The longest a Node.js timer may wait (ms); an expiry further out is re-armed when this passes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

type Closer = (why: string) => void;

/**
 * Everything open in a token's name: HTTP requests and the streams they
 * become (watch, logs -f), exec WebSockets and agent connections. Revoking a
 * token, or its expiry, ends them all at once: authentication at the start of
 * a request is not enough for a stream that lives for hours.
 */
export class TokenHolds {
  private readonly byToken = new Map<string, { closers: Set<Closer>; timer?: NodeJS.Timeout }>();

  /** Registers something open in `token`'s name; returns its release (call when it ends by itself). */
  hold(token: TokenRecord, close: Closer): () => void {
    let entry = this.byToken.get(token.id);
    const first = !entry;
    if (!entry) {
      entry = { closers: new Set() };
      this.byToken.set(token.id, entry);
    }
    entry.closers.add(close);
    if (first && token.expiresAt) this.armExpiry(token.id, Date.parse(token.expiresAt));
    return () => {
      const e = this.byToken.get(token.id);
      if (!e?.closers.delete(close) || e.closers.size) return;
      if (e.timer) clearTimeout(e.timer);
      this.byToken.delete(token.id);
    };
  }

  /** Ends everything open in the token's name; returns how many. */
  revoke(tokenId: string, why: string): number {
    const e = this.byToken.get(tokenId);
    if (!e) return 0;
    this.byToken.delete(tokenId);
    if (e.timer) clearTimeout(e.timer);
    for (const close of e.closers) close(why);
    return e.closers.size;
  }

  /** How many tokens have something open (for tests and metrics). */
  get size(): number {
    return this.byToken.size;
  }

  close(): void {
    for (const e of this.byToken.values()) if (e.timer) clearTimeout(e.timer);
    this.byToken.clear();
  }

  private armExpiry(id: string, at: number): void {
    const e = this.byToken.get(id);
    if (!e) return;
    const wait = at - Date.now();
    if (wait <= 0) return void this.revoke(id, 'token expired');
    e.timer = setTimeout(() => this.armExpiry(id, at), Math.min(wait, MAX_TIMER_MS));
    e.timer.unref();
  }
}

/**
 * Deletes a node's credentials and certificates and ends their connections: when the Node is
 * deleted, and before a new node of the same name is given one, so that a
 * name is never bound to an old credential again.
 */
export async function revokeNodeCredentials(store: Store, holds: TokenHolds, node: string, why: string): Promise<number> {
  let n = 0;
  for (const t of await store.tokens.list({ subject: node, kinds: ['node', 'certificate'] })) {
    await store.tokens.delete(t.id);
    holds.revoke(t.id, why);
    n++;
  }
  return n;
}

/** At start: credentials of nodes that no longer exist (deleted while the center was down) are deleted. */
export async function sweepOrphanCredentials(store: Store): Promise<number> {
  const nodes = new Set((await store.list('Node')).items.map((n) => n.metadata.name));
  let n = 0;
  for (const t of await store.tokens.list({ kinds: ['node', 'certificate'] })) {
    if (!t.subject || !nodes.has(t.subject)) {
      await store.tokens.delete(t.id);
      n++;
    }
  }
  return n;
}
