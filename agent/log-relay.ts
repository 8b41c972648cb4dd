import type { AgentMessage, CenterMessage } from '../core/index.ts';
import type { LogReadOptions, Runtime } from './runtime/runtime.ts';

const CHUNK = 32 * 1024;

/** Serves `logs.open` requests from the center by reading the instance's log files. */
export class LogRelay {
  private readonly open = new Map<number, AbortController>();

  constructor(
    private readonly runtime: Runtime,
    private readonly logDir: (instanceId: string) => string,
    private readonly send: (m: AgentMessage) => boolean,
  ) {}

  handle(m: Extract<CenterMessage, { t: 'logs.open' | 'logs.close' }>): void {
    if (m.t === 'logs.close') {
      this.open.get(m.stream)?.abort();
      this.open.delete(m.stream);
      return;
    }
    const ac = new AbortController();
    this.open.set(m.stream, ac);
    void this.pump(m.stream, `${m.project}.${m.instance}`, { follow: m.follow, tailBytes: m.tailBytes, since: m.since, signal: ac.signal });
  }

  closeAll(): void {
    for (const ac of this.open.values()) ac.abort();
    this.open.clear();
  }

  private async pump(stream: number, id: string, opts: LogReadOptions): Promise<void> {
    const { signal } = opts;
    try {
      for await (const text of this.runtime.logs({ logDir: this.logDir(id) }, opts)) {
        for (let i = 0; i < text.length; i += CHUNK) {
          if (!this.send({ t: 'logs.data', stream, data: text.slice(i, i + CHUNK) })) return;
        }
      }
      this.send({ t: 'logs.end', stream });
    } catch (err) {
      if (!signal.aborted) this.send({ t: 'logs.end', stream, error: `cannot read logs: ${(err as Error).message}` });
    } finally {
      this.open.delete(stream);
    }
  }
}
