import type { Logger } from 'pino';
import type { AgentMessage, CenterMessage } from '../../core/index.ts';
import { decodeKey } from './probe-frame.ts';
import { ProbeResponder } from './probe-responder.ts';
import { Prober, type PeerRtt } from './prober.ts';
import { RttWindow } from './rtt-window.ts';
import { formatHostPort, isWildcard, parseHostPort, type HostPort } from '../../core/host-port.ts';

export interface ProbingOptions {
  /** host:port the responder listens on (port 0: any free port). */
  listen: string;
  /** host:port peers dial to reach the responder; default the bound listen address. */
  advertise?: string;
  logger: Logger;
  /** Sends to the center; false when offline (the period's figures are then dropped, not queued). */
  send: (m: AgentMessage) => boolean;
}

type PeersMessage = Extract<CenterMessage, { t: 'peers' }>;

/**
 * The agent's part in network awareness: answers its peers' probes, probes
 * the peers the center names, and once per probe interval reports the round
 * trips (to those peers and to the center) in one `rtt` message.
 */
export class NetworkProbing {
  private readonly center = new RttWindow();
  private readonly prober: Prober;
  /** Each peer's site, from the center's list. */
  private readonly siteOf = new Map<string, string>();
  /** The best round trip to each site in the last report (a site whose probes all failed is dropped). */
  private readonly bySite = new Map<string, number>();

  static async start(o: ProbingOptions): Promise<NetworkProbing> {
    const responder = await ProbeResponder.start({ ...parseHostPort(o.listen)!, logger: o.logger });
    const bound = responder.address;
    if (!o.advertise && isWildcard(bound.host)) {
      o.logger.warn({ listen: formatHostPort(bound) }, 'probes listen on every interface but no --probe-advertise is set; peers cannot dial a wildcard address');
    }
    const probe = o.advertise ? parseHostPort(o.advertise)! : bound;
    o.logger.info({ event: 'probing', listen: formatHostPort(bound), advertise: formatHostPort(probe) }, 'probe responder listening');
    return new NetworkProbing(responder, probe, o);
  }

  private constructor(
    private readonly responder: ProbeResponder,
    /** Where peers reach this agent's responder, announced in `hello`. */
    readonly probe: HostPort,
    private readonly opts: ProbingOptions,
  ) {
    this.prober = new Prober({ onReport: (peers) => this.report(peers) });
  }

  /** The center named the peers and the platform key: answer with that key, probe those peers. */
  onPeers(m: PeersMessage): void {
    const key = decodeKey(m.key);
    this.responder.setKey(key);
    this.prober.update(key, m.intervalMs, m.peers);
    this.siteOf.clear();
    for (const peer of m.peers) this.siteOf.set(peer.node, peer.site);
    // A site no longer probed has no round trip any more: its last one would order endpoints for ever.
    const sites = new Set(this.siteOf.values());
    for (const site of this.bySite.keys()) if (!sites.has(site)) this.bySite.delete(site);
    this.opts.logger.debug({ peers: m.peers.map((p) => p.node), intervalMs: m.intervalMs }, 'probe peers updated');
  }

  /** A round trip to the center, measured by the connection's WebSocket pings. */
  centerRtt(ms: number): void {
    this.center.sample(ms);
  }

  async stop(): Promise<void> {
    this.prober.stop();
    await this.responder.close();
  }

  /** The round trip to a site as this agent last measured it (the best of its peers there), ms. */
  siteRtt(site: string): number | undefined {
    return this.bySite.get(site);
  }

  private report(peers: PeerRtt[]): void {
    const best = new Map<string, number | null>();
    for (const { node, rttMs } of peers) {
      const site = this.siteOf.get(node);
      if (site === undefined) continue;
      const prev = best.get(site);
      best.set(site, rttMs === null ? (prev ?? null) : Math.min(prev ?? Infinity, rttMs));
    }
    for (const [site, ms] of best) {
      if (ms === null) this.bySite.delete(site);
      else this.bySite.set(site, ms);
    }
    const centerMs = this.center.take();
    if (!peers.length && centerMs === undefined) return;
    this.opts.send({ t: 'rtt', ...(centerMs !== undefined ? { centerMs } : {}), peers });
  }
}
