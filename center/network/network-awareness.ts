import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { CenterMessage } from '../../core/index.ts';
import type { Store } from '../store/store.ts';
import { ObjectCache } from '../controllers/object-cache.ts';
import { EndpointDirectory } from './endpoint-directory.ts';
import { LinkRecorder, type RttReport } from './link-recorder.ts';
import { PeerDirectory, type ProbeAddress } from './peer-directory.ts';

export interface NetworkOptions {
  /** The center's site, if it has one: agents' round trips to the center then measure (their site, this one). */
  site?: string;
  probeIntervalMs: number;
  linkStaleMs: number;
  linkExpireMs: number;
}

/** What an agent session needs from network awareness. */
export interface AgentNetwork {
  /** The agent said hello (with its probe address, if it probes); returns what to call when the session ends. */
  join(node: string, probe: ProbeAddress | undefined, send: (m: CenterMessage) => void): () => void;
  rtt(node: string, report: RttReport): Promise<void>;
  /** The endpoint directory (GS-Link endpoints): every agent gets it after its hello, then its changes. */
  readonly endpoints: Pick<EndpointDirectory, 'join'>;
}

/**
 * The center's side of network awareness: tells agents whom to probe
 * (PeerDirectory), turns their reports into SiteLink objects (LinkRecorder),
 * tells them where every exposed Service's instances are (EndpointDirectory), and
 * holds the platform's probe key, new at every start (agents get it with
 * their peer list, so a restarted center re-keys every responder).
 */
export class NetworkAwareness implements AgentNetwork {
  private readonly cache: ObjectCache;
  private readonly directory: PeerDirectory;
  readonly recorder: LinkRecorder;
  readonly endpoints: EndpointDirectory;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly store: Store,
    logger: Logger,
    opts: NetworkOptions,
  ) {
    this.cache = new ObjectCache(store, ['Node', 'SiteLink']);
    this.directory = new PeerDirectory(this.cache, { key: randomBytes(32).toString('base64'), intervalMs: opts.probeIntervalMs });
    this.endpoints = new EndpointDirectory(store, logger);
    this.recorder = new LinkRecorder(store, this.cache, logger, { centerSite: opts.site, staleAfterMs: opts.linkStaleMs, expireAfterMs: opts.linkExpireMs });
  }

  async start(): Promise<void> {
    await this.cache.start();
    this.unsubscribe = this.store.subscribe((c) => this.directory.onChange(c));
    this.recorder.start();
    await this.endpoints.start();
  }

  stop(): void {
    this.unsubscribe?.();
    this.directory.stop();
    this.recorder.stop();
    this.endpoints.stop();
    this.cache.stop();
  }

  join(node: string, probe: ProbeAddress | undefined, send: (m: CenterMessage) => void): () => void {
    return this.directory.join(node, probe, send);
  }

  rtt(node: string, report: RttReport): Promise<void> {
    return this.recorder.recordFromNode(node, report);
  }
}
