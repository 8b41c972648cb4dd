import { NotFoundError, type Node } from '../../core/index.ts';
import type { Store } from '../store/store.ts';

/**
 * What the operations routes (health, readiness, metrics and their targets)
 * read of the store: its revision and durability, whether it answers, its
 * commit figures, and the nodes a scraper may reach.
 */
export class CenterStatus {
  constructor(private readonly store: Store) {}

  revision(): Promise<number> {
    return this.store.currentRevision();
  }

  durability(): ReturnType<Store['durability']> {
    return this.store.durability();
  }

  commitStats(): ReturnType<Store['commitStats']> {
    return this.store.commitStats();
  }

  /** Whether the store answers a read now. */
  async storeAnswers(): Promise<boolean> {
    try {
      await this.store.currentRevision();
      return true;
    } catch {
      return false;
    }
  }

  /** Every node (scrape targets; a metrics token may see nodes' names and sites, nothing else). */
  async nodes(): Promise<Node[]> {
    return (await this.store.list('Node')).items;
  }

  /** The node, or NotFound. */
  async node(name: string): Promise<Node> {
    const n = await this.store.get('Node', undefined, name);
    if (!n) throw new NotFoundError(`Node "${name}" not found`, { details: [{ path: 'name', message: 'not found' }] });
    return n;
  }
}
