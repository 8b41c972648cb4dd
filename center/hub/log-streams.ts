import { PassThrough } from 'node:stream';

/** Log streams in flight between HTTP clients and agents, by stream id. */
export class LogStreams {
  private next = 1;
  private readonly open = new Map<number, { out: PassThrough; node: string }>();

  create(node: string): { id: number; out: PassThrough } {
    const id = this.next++;
    const out = new PassThrough();
    this.open.set(id, { out, node });
    out.on('close', () => this.open.delete(id));
    return { id, out };
  }

  data(id: number, data: string): void {
    this.open.get(id)?.out.write(data);
  }

  end(id: number, error?: string): void {
    const s = this.open.get(id);
    if (!s) return;
    if (error) s.out.write(`\n[gedge] ${error}\n`);
    s.out.end();
    this.open.delete(id);
  }

  /** The agent went away: end its streams so clients are not left hanging. */
  endNode(node: string, why: string): void {
    for (const [id, s] of this.open) if (s.node === node) this.end(id, why);
  }
}
