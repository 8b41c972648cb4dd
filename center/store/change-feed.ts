import type { Change, ChangeListener, Store } from './store.ts';

const PAGE = 5000;

/** Every change after `since`, oldest first, read a page at a time. GoneError when `since` was compacted. */
export async function* changesAfter(store: Store, since: number): AsyncGenerator<Change> {
  for (let from = since; ; ) {
    const page = await store.changesSince(from, PAGE);
    yield* page;
    if (page.length < PAGE) return;
    from = page.at(-1)!.revision;
  }
}

/**
 * Subscribes at once and holds the changes that commit while the caller reads
 * a backlog or a snapshot; `live(fn)` replays them to `fn`, in order, and then
 * forwards new ones. Nothing falls between the read and the subscription; the
 * caller drops what its read already covered (by revision).
 */
export function holdChanges(store: Store): { live(fn: ChangeListener): void; stop(): void } {
  const held: Change[] = [];
  let forward: ChangeListener | null = null;
  const stop = store.subscribe((c) => (forward ? forward(c) : held.push(c)));
  return {
    live(fn) {
      for (const c of held.splice(0)) fn(c);
      forward = fn;
    },
    stop,
  };
}
