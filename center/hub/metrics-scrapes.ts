import { TimeoutError, UnavailableError } from '../../core/index.ts';
import { streamId } from './log-streams.ts';

/** How long an agent may take to answer a scrape (Prometheus' default scrape timeout is 10 s). */
export const SCRAPE_TIMEOUT_MS = 8000;

interface Pending {
  id: number;
  /** The connection it was asked on. */
  via: object;
  answer: Promise<string>;
  settle: (text: string | Error) => void;
}

/**
 * Scrapes of agents' metrics through the center, by node. Scrapes of one
 * node while one is in flight share its answer: however many scrapers ask,
 * an agent answers one at a time. An answer counts only from the node it
 * was asked of, under the id it was asked with.
 */
export class MetricsScrapes {
  private readonly pending = new Map<string, Pending>();

  /** The node's metrics text; `ask` sends the request to its agent over connection `via`. */
  scrape(node: string, via: object, ask: (id: number) => void, timeoutMs = SCRAPE_TIMEOUT_MS): Promise<string> {
    const inFlight = this.pending.get(node);
    if (inFlight) return inFlight.answer;
    let settle!: (text: string | Error) => void;
    const answer = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => settle(new TimeoutError(`the agent of node "${node}" did not answer the scrape within ${timeoutMs / 1000} s`, { details: [{ path: 'node', message: 'no answer' }] })), timeoutMs);
      settle = (r) => {
        clearTimeout(timer);
        if (this.pending.get(node) === p) this.pending.delete(node);
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
    });
    const p: Pending = { id: streamId(), via, answer, settle };
    this.pending.set(node, p);
    ask(p.id);
    return answer;
  }

  /** An answer from `node`'s agent; false when nothing of that id was asked of that node. */
  answer(node: string, id: number, text: string, error?: string): boolean {
    const p = this.pending.get(node);
    if (p?.id !== id) return false;
    p.settle(error === undefined ? text : new UnavailableError(`the agent of node "${node}" has no metrics: ${error}`, { details: [{ path: 'node', message: error }] }));
    return true;
  }

  /** The connection `via` of the node's agent closed: a scrape in flight on it fails now, not at its timeout. */
  ended(node: string, via: object, why: string): void {
    const p = this.pending.get(node);
    if (p?.via === via) p.settle(new UnavailableError(`the agent of node "${node}" went away during the scrape: ${why}`, { details: [{ path: 'node', message: 'offline' }] }));
  }
}
