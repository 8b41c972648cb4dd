import type { AgentMessage } from '../core/index.ts';
import type { AgentMetricSources } from './metrics.ts';

/**
 * Answers the center's scrapes of this agent's metrics (metrics.scrape ->
 * metrics). The registry is made at the first scrape: an agent nobody
 * scrapes loads no prom-client and samples no event-loop delay.
 */
export class MetricsResponder {
  private registry: Promise<{ metrics(): Promise<string> }> | undefined;

  constructor(
    private readonly sources: AgentMetricSources,
    private readonly send: (m: AgentMessage) => void,
  ) {}

  async answer(id: number): Promise<void> {
    this.registry ??= import('./metrics.ts').then(({ agentMetrics }) => agentMetrics(this.sources));
    try {
      this.send({ t: 'metrics', id, text: await (await this.registry).metrics() });
    } catch (err) {
      this.send({ t: 'metrics', id, text: '', error: (err as Error).message });
    }
  }
}
