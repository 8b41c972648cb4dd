import { appendFile, readFile, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';

/**
 * When log output was written, without touching the raw bytes: each log file
 * has a sidecar `<file>.idx` of lines `<byte offset> <ms since the epoch>`.
 * An entry is appended before the first bytes of a file and then at most
 * once per INDEX_PERIOD_MS, before the bytes flushed at that time, so the
 * bytes between two entries were all written within one period after the
 * first of them. The index is rotated and removed with its log file; it
 * costs one short line per second in which the workload wrote anything.
 */
export const INDEX_PERIOD_MS = 1000;
export const indexPath = (logPath: string): string => `${logPath}.idx`;

export interface IndexEntry {
  offset: number;
  at: number;
}

/** The writing side, one per open log file. */
export class LogIndexWriter {
  private lastAt = -Infinity;

  constructor(
    private path: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new file (after rotation): its first bytes get an entry whatever the time. */
  reset(path: string): void {
    this.path = path;
    this.lastAt = -Infinity;
  }

  /** Called before bytes are appended at `offset`. */
  async mark(offset: number): Promise<void> {
    const now = this.now();
    if (now - this.lastAt < INDEX_PERIOD_MS) return;
    this.lastAt = now;
    await appendFile(this.path, `${offset} ${now}\n`);
  }
}

/** The entries of an index, oldest first; a missing index has none, a torn last line is skipped. */
export async function readIndex(path: string): Promise<IndexEntry[]> {
  const text = await readFile(path, 'utf8').catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  });
  const out: IndexEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+) (\d+)$/.exec(line);
    if (m) out.push({ offset: Number(m[1]), at: Number(m[2]) });
  }
  return out;
}

/**
 * Where in a log file the output written at or after `since` starts: never
 * past a byte written at or after it, and at most one period before it. A
 * file without an index (written before indexing existed) counts as wholly
 * older when it was last modified before `since`, else as wholly newer.
 */
export function offsetSince(entries: IndexEntry[], since: number, file: Pick<Stats, 'size' | 'mtimeMs'>): number {
  if (entries.length === 0) return file.mtimeMs < since ? file.size : 0;
  const k = entries.findIndex((e) => e.at >= since);
  const prev = k === -1 ? entries.at(-1)! : entries[k - 1];
  // The period that began at `prev` may hold bytes written at or after `since`.
  if (prev && since < prev.at + INDEX_PERIOD_MS) return Math.min(prev.offset, file.size);
  if (k === -1) return file.size;
  return k === 0 ? 0 : Math.min(entries[k]!.offset, file.size);
}

/** offsetSince for a log file on disk; undefined when the file does not exist. */
export async function fileOffsetSince(logPath: string, since: number): Promise<{ offset: number; size: number } | undefined> {
  const st = await stat(logPath).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  });
  if (!st) return undefined;
  return { offset: offsetSince(await readIndex(indexPath(logPath)), since, st), size: st.size };
}
