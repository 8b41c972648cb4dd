import type { Duplex } from 'node:stream';

/** What a link runs over: a gateway's TLS socket, or a tunnel through the center (tunnels.ts). */
export type LinkSocket = Duplex & { destroySoon(): void };

/** Lines received and not yet read that a link holds at most (a conversation has a few in flight). */
const LINES_UNREAD_MAX = 64;

/**
 * JSON lines over one socket, for the short conversations nodes hold about
 * sessions (migration.ts): each line at most `maxLine` bytes (a longer one
 * ends the link), read one at a time with a deadline.
 */
export class LineLink {
  private buf: Buffer = Buffer.alloc(0);
  private readonly lines: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private ended = false;

  constructor(
    readonly socket: LinkSocket,
    private readonly maxLine: number,
    initial?: Buffer,
  ) {
    socket.on('data', (chunk: Buffer) => this.take(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => this.finish());
    if (initial?.length) this.take(initial);
    socket.resume();
  }

  private take(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (let nl = this.buf.indexOf(10); nl >= 0; nl = this.buf.indexOf(10)) {
      this.lines.push(this.buf.subarray(0, nl).toString('utf8'));
      this.buf = this.buf.subarray(nl + 1);
    }
    // A peer that floods lines nobody reads yet, or one line past the limit, ends the link.
    if (this.buf.length > this.maxLine || this.lines.length > LINES_UNREAD_MAX) return this.close();
    this.wake();
  }

  private wake(): void {
    if (!this.waiting || (!this.lines.length && !this.ended)) return;
    const w = this.waiting;
    this.waiting = undefined;
    w(this.lines.shift());
  }

  private finish(): void {
    this.ended = true;
    this.lines.length = 0;
    this.wake();
  }

  /** The next line, or undefined once the link ended or nothing came within `ms`. */
  next(ms: number): Promise<string | undefined> {
    if (this.lines.length || this.ended) return Promise.resolve(this.lines.shift());
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve(undefined);
      }, ms);
      this.waiting = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
    });
  }

  /** The next line as JSON (undefined: none, or not JSON). */
  async nextJson(ms: number): Promise<Record<string, unknown> | undefined> {
    const line = await this.next(ms);
    if (line === undefined) return undefined;
    try {
      const v = JSON.parse(line) as unknown;
      return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether the other side may still hear what is sent. */
  get open(): boolean {
    return !this.ended && !this.socket.destroyed;
  }

  send(v: unknown): void {
    if (!this.socket.destroyed) this.socket.write(`${JSON.stringify(v)}\n`);
  }

  /** Ends the link once what was written is sent. */
  close(): void {
    this.finish();
    if (!this.socket.destroyed) this.socket.end();
    this.socket.destroySoon();
  }
}
