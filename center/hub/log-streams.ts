import { randomInt } from 'node:crypto';
import { PassThrough } from 'node:stream';

/** Stream ids are random below 2^48 (exact in JSON numbers): a node cannot guess another's, and must own it anyway. */
export const streamId = (): number => randomInt(1, 2 ** 48);

/** Log streams in flight between HTTP clients and agents, by stream id; each is bound to the node it was opened on. */
export class LogStreams {
  private readonly open = new Map<number, { out: PassThrough; node: string }>();

  create(node: string): { id: number; out: PassThrough } {
    let id = streamId();
    while (this.open.has(id)) id = streamId();
    const out = new PassThrough();
    this.open.set(id, { out, node });
    out.on('close', () => this.open.delete(id));
    return { id, out };
  }

  /** Output from `node`'s agent; false when the stream is not open on that node. */
  data(node: string, id: number, data: string): boolean {
    const s = this.of(node, id);
    s?.out.write(data);
    return !!s;
  }

  /** The end of a stream, from `node`'s agent; false when the stream is not open on that node. */
  end(node: string, id: number, error?: string): boolean {
    const s = this.of(node, id);
    if (!s) return false;
    if (error) s.out.write(`\n[gedge] ${error}\n`);
    s.out.end();
    this.open.delete(id);
    return true;
  }

  /** The agent went away: end its streams so clients are not left hanging. */
  endNode(node: string, why: string): void {
    for (const [id, s] of this.open) if (s.node === node) this.end(node, id, why);
  }

  private of(node: string, id: number) {
    const s = this.open.get(id);
    return s?.node === node ? s : undefined;
  }
}
