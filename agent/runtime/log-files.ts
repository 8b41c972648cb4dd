import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogReadOptions } from './runtime.ts';
import { LogIndexWriter, fileOffsetSince, indexPath } from './log-index.ts';

/**
 * An instance's output on disk: `current.log` plus up to `keep` rotated files
 * (`current.log.1` is the newest). Size-capped so a chatty workload cannot
 * fill an edge node's disk. Each file has a time index beside it
 * (log-index.ts) so that readers can start at a time.
 */

export const CURRENT_LOG = 'current.log';
const rotatedName = (n: number): string => `${CURRENT_LOG}.${n}`;
const READ_CHUNK = 64 * 1024;

export interface RotatingLogOptions {
  maxBytes?: number;
  keep?: number;
  /** The clock of the time index (tests). */
  now?: () => number;
}

export class RotatingLog {
  private readonly maxBytes: number;
  private readonly keep: number;
  private pending: Buffer[] = [];
  private file: FileHandle | undefined;
  private size = 0;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly index: LogIndexWriter;

  constructor(
    private readonly dir: string,
    { maxBytes = 1024 * 1024, keep = 3, now = Date.now }: RotatingLogOptions = {},
  ) {
    if (!(maxBytes >= 1) || !(keep >= 0)) throw new RangeError(`invalid log limits: maxBytes=${maxBytes} keep=${keep}`);
    this.maxBytes = maxBytes;
    this.keep = keep;
    this.index = new LogIndexWriter(indexPath(join(dir, CURRENT_LOG)), now);
  }

  /** Queues a chunk; writes stay in order. Output after close() is dropped. */
  write(chunk: Buffer | string): void {
    if (this.closed) return;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (buf.length === 0) return;
    this.pending.push(buf);
    this.flushing ??= this.flush();
  }

  /** Resolves once everything written before it is on disk. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing;
    const file = this.file;
    this.file = undefined;
    await file?.close();
  }

  private async flush(): Promise<void> {
    // Writes arriving while one is on disk go out together in the next round.
    while (this.pending.length > 0) {
      const chunks = this.pending;
      this.pending = [];
      try {
        await this.append(chunks);
      } catch {
        // A failing log disk must not take the workload or the agent down;
        // drop these chunks and reopen the file on the next write.
        const file = this.file;
        this.file = undefined;
        await file?.close().catch(() => {});
      }
    }
    this.flushing = undefined;
  }

  private async append(chunks: Buffer[]): Promise<void> {
    let file = this.file ?? (await this.openCurrent());
    let batch: Buffer[] = [];
    let batchBytes = 0;
    const writeBatch = async (): Promise<void> => {
      if (batchBytes === 0) return;
      // The index entry goes first: an entry without its bytes (after a crash) misleads no reader.
      await this.index.mark(this.size);
      await file.appendFile(Buffer.concat(batch));
      this.size += batchBytes;
      batch = [];
      batchBytes = 0;
    };
    for (const chunk of chunks) {
      let rest = chunk;
      while (rest.length > 0) {
        const room = this.maxBytes - this.size - batchBytes;
        if (rest.length <= room) {
          batch.push(rest);
          batchBytes += rest.length;
          break;
        }
        // Rotate rather than split while the chunk still fits an empty file,
        // so a line written at once stays in one file.
        if (this.size + batchBytes > 0) {
          await writeBatch();
          file = await this.rotate();
          continue;
        }
        batch.push(rest.subarray(0, room));
        batchBytes += room;
        rest = rest.subarray(room);
      }
    }
    await writeBatch();
  }

  private async openCurrent(): Promise<FileHandle> {
    await mkdir(this.dir, { recursive: true });
    const file = await open(join(this.dir, CURRENT_LOG), 'a');
    this.size = (await file.stat()).size;
    this.file = file;
    return file;
  }

  private async rotate(): Promise<FileHandle> {
    // Close before renaming: readLog relies on a renamed file being complete.
    await this.file?.close();
    this.file = undefined;
    const current = join(this.dir, CURRENT_LOG);
    if (this.keep === 0) {
      await rm(current, { force: true });
      await rm(indexPath(current), { force: true });
    } else {
      // The index first: a reader that sees a rotated log finds its index beside it.
      for (let n = this.keep - 1; n >= 1; n--) {
        await rename(indexPath(join(this.dir, rotatedName(n))), indexPath(join(this.dir, rotatedName(n + 1)))).catch(ignoreMissing);
        await rename(join(this.dir, rotatedName(n)), join(this.dir, rotatedName(n + 1))).catch(ignoreMissing);
      }
      await rename(indexPath(current), indexPath(join(this.dir, rotatedName(1)))).catch(ignoreMissing);
      await rename(current, join(this.dir, rotatedName(1))).catch(ignoreMissing);
    }
    this.index.reset(indexPath(current));
    return this.openCurrent();
  }
}

/**
 * Yields the last `tailBytes` of the log (reaching into rotated files when
 * current.log is shorter; 0 = all of current.log), or with `since` what was
 * written since then (capped by `tailBytes` when not 0), then, when following,
 * what gets appended until `signal` aborts. Follows rotation by noticing that
 * current.log is a new file; two rotations within one poll lose the middle file.
 */
export async function* readLog(dir: string, opts: LogReadOptions & { pollMs?: number }): AsyncGenerator<string, void, undefined> {
  const { tailBytes, follow, signal, pollMs = 200 } = opts;
  const decoder = new StringDecoder('utf8');
  const currentPath = join(dir, CURRENT_LOG);
  let trimPartialChar = false;
  const decode = (buf: Buffer): string => {
    // A tail that starts inside a multi-byte character would decode to U+FFFD; drop that fragment.
    if (trimPartialChar) {
      let i = 0;
      while (i < 3 && i < buf.length && ((buf[i] ?? 0) & 0xc0) === 0x80) i++;
      buf = buf.subarray(i);
      trimPartialChar = false;
    }
    return decoder.write(buf);
  };
  async function* drain(cursor: FileCursor): AsyncGenerator<string, void, undefined> {
    for (let buf; (buf = await cursor.read()); ) {
      const text = decode(buf);
      if (text) yield text;
    }
  }

  const { older, startInCurrent } = opts.since === undefined ? await tailStart(dir, tailBytes) : await sinceStart(dir, opts.since, tailBytes);
  trimPartialChar = (older[0]?.from ?? startInCurrent) > 0;
  for (const { path, from, to } of older) {
    const cursor = await FileCursor.open(path, from, to);
    if (!cursor) continue;
    try {
      yield* drain(cursor);
    } finally {
      await cursor.close();
    }
  }

  let cursor = await FileCursor.open(currentPath, startInCurrent);
  try {
    while (true) {
      if (cursor) yield* drain(cursor);
      if (!follow || signal.aborted) break;
      try {
        await sleep(pollMs, undefined, { signal });
      } catch {
        break; // aborted
      }
      const st = await statOrUndefined(currentPath);
      if (!st) continue; // between rotation's rename and the new file
      if (cursor && st.ino === cursor.ino) {
        if (st.size < cursor.pos) cursor.pos = 0; // truncated in place
        continue;
      }
      // current.log is a new file. The old one was closed before the rename,
      // so draining it now gets its last bytes.
      if (cursor) {
        yield* drain(cursor);
        await cursor.close();
        cursor = undefined;
      }
      cursor = await FileCursor.open(currentPath, 0);
    }
  } finally {
    await cursor?.close();
  }
  const rest = decoder.end();
  if (rest) yield rest;
}

interface Segment {
  path: string;
  from: number;
  to: number;
}
interface ReadStart {
  /** Parts of rotated files, oldest first. */
  older: Segment[];
  startInCurrent: number;
}

/** The last `tailBytes` (0: all of current.log), reaching into rotated files when current.log is shorter. */
async function tailStart(dir: string, tailBytes: number): Promise<ReadStart> {
  const currentSize = (await statOrUndefined(join(dir, CURRENT_LOG)))?.size ?? 0;
  if (tailBytes === 0) return { older: [], startInCurrent: 0 };
  if (currentSize >= tailBytes) return { older: [], startInCurrent: currentSize - tailBytes };
  const older: Segment[] = [];
  let need = tailBytes - currentSize;
  for (let n = 1; need > 0; n++) {
    const path = join(dir, rotatedName(n));
    const st = await statOrUndefined(path);
    if (!st) break;
    const from = Math.max(0, st.size - need);
    older.unshift({ path, from, to: st.size });
    need -= st.size - from;
  }
  return { older, startInCurrent: 0 };
}

/** Output written since `since` (by the time indexes), newest files first until one starts before it; then at most `tailBytes` (0: no cap). */
async function sinceStart(dir: string, since: number, tailBytes: number): Promise<ReadStart> {
  const current = await fileOffsetSince(join(dir, CURRENT_LOG), since);
  const older: Segment[] = [];
  if (!current || current.offset === 0) {
    for (let n = 1; ; n++) {
      const path = join(dir, rotatedName(n));
      const at = await fileOffsetSince(path, since);
      if (!at) break;
      older.unshift({ path, from: at.offset, to: at.size });
      if (at.offset > 0) break;
    }
  }
  const start = { older, startInCurrent: current?.offset ?? 0 };
  if (tailBytes === 0) return start;
  // Keep only the last tailBytes of what was selected.
  let excess = older.reduce((n, s) => n + s.to - s.from, 0) + (current ? current.size - start.startInCurrent : 0) - tailBytes;
  while (excess > 0 && older.length) {
    const first = older[0]!;
    const drop = Math.min(excess, first.to - first.from);
    first.from += drop;
    excess -= drop;
    if (first.from === first.to) older.shift();
  }
  if (excess > 0) start.startInCurrent += excess;
  return start;
}

/** Reads a file forward from `pos` through one open handle, so it keeps reading a file that was renamed away. */
class FileCursor {
  private readonly buf = Buffer.alloc(READ_CHUNK);
  private constructor(
    private readonly file: FileHandle,
    readonly ino: number,
    public pos: number,
    private readonly end: number,
  ) {}

  static async open(path: string, pos: number, end = Infinity): Promise<FileCursor | undefined> {
    const file = await open(path, 'r').catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw err;
    });
    if (!file) return undefined;
    return new FileCursor(file, (await file.stat()).ino, pos, end);
  }

  /** The next chunk, or undefined at the end for now. */
  async read(): Promise<Buffer | undefined> {
    const want = Math.min(READ_CHUNK, this.end - this.pos);
    if (want <= 0) return undefined;
    const { bytesRead } = await this.file.read(this.buf, 0, want, this.pos);
    if (bytesRead === 0) return undefined;
    this.pos += bytesRead;
    return Buffer.from(this.buf.subarray(0, bytesRead));
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  return stat(path).catch((err: unknown) => {
    if (isMissing(err)) return undefined;
    throw err;
  });
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function ignoreMissing(err: unknown): void {
  if (!isMissing(err)) throw err;
}
