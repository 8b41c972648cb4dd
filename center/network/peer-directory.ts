import type { CenterMessage, Node, Peer, ProbeAddress } from '../../core/index.ts';
import type { Change, Store } from '../store/store.ts';

type Reader = Pick<Store, 'list'>;
type Send = (m: CenterMessage) => void;
export type { ProbeAddress };

export interface DirectoryOptions {
  /** The platform's probe key (base64); responders answer only probes signed with it. */
  key: string;
  intervalMs: number;
  /** Peers per other site (default 2: one may be down without blinding the site pair). */
  perSite?: number;
  /** Changes are gathered this long before peer lists are recomputed. */
  settleMs?: number;
}

interface Member {
  probe: ProbeAddress | undefined;
  send: Send;
  /** The list last sent, to send only changes. */
  sent?: string;
}

/**
 * Decides whom each agent probes: for every other site, a few Ready nodes
 * that announced a probe address, so an agent's cost grows with the number
 * of sites, not of nodes. Each agent gets its list after its welcome and
 * again whenever it changes.
 */
export class PeerDirectory {
  private readonly members = new Map<string, Member>();
  /** site/phase per node, to tell a change that matters from a heartbeat's status write. */
  private readonly seen = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly nodes: Reader,
    private readonly opts: DirectoryOptions,
  ) {}

  /** An agent said hello. Returns the function that removes it (a no-op once a newer connection of the node joined). */
  join(node: string, probe: ProbeAddress | undefined, send: Send): () => void {
    const member: Member = { probe, send };
    this.members.set(node, member);
    if (probe) void this.recompute(node);
    this.changed();
    return () => {
      if (this.members.get(node) !== member) return;
      this.members.delete(node);
      this.changed();
    };
  }

  /** Store changes: a node added, deleted, moved or changing phase may change others' lists. */
  onChange(c: Change): void {
    if (c.object.kind !== 'Node') return;
    const n = c.object as Node;
    const sig = c.type === 'DELETED' ? '' : `${n.spec.site}/${n.status?.phase ?? 'Pending'}`;
    if ((this.seen.get(n.metadata.name) ?? '') === sig) return;
    if (sig) this.seen.set(n.metadata.name, sig);
    else this.seen.delete(n.metadata.name);
    this.changed();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /**
   * Recompute once changes settle. A burst (a site rebooting, the center
   * restarting) then costs one pass; the first change starts the clock, so a
   * steady trickle cannot postpone the pass forever.
   */
  private changed(): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.recompute();
    }, this.opts.settleMs ?? 200);
  }

  /** Sends every member (or just `only`) its list, when it differs from the one it has. */
  private async recompute(only?: string): Promise<void> {
    const nodes = (await this.nodes.list('Node')).items;
    const siteOf = new Map(nodes.map((n) => [n.metadata.name, n.spec.site]));
    const candidates: Peer[] = [];
    for (const n of nodes) {
      const probe = this.members.get(n.metadata.name)?.probe;
      if (probe && n.status?.phase === 'Ready') candidates.push({ node: n.metadata.name, site: n.spec.site, ...probe });
    }
    for (const [node, member] of this.members) {
      const site = siteOf.get(node);
      if (!member.probe || !site || (only && node !== only)) continue;
      const peers = choosePeers(node, site, candidates, this.opts.perSite ?? 2);
      const text = JSON.stringify(peers);
      if (text === member.sent) continue;
      member.sent = text;
      member.send({ t: 'peers', key: this.opts.key, intervalMs: this.opts.intervalMs, peers });
    }
  }
}

/**
 * Up to `perSite` candidates from each other site, by rendezvous hashing on
 * (prober, candidate): different probers spread over a site's nodes, and a
 * node joining or leaving moves only the choices it wins or held.
 */
export function choosePeers(self: string, site: string, candidates: Peer[], perSite: number): Peer[] {
  const bySite = new Map<string, { peer: Peer; score: number }[]>();
  for (const c of candidates) {
    if (c.site === site || c.node === self) continue;
    const ranked = bySite.get(c.site) ?? [];
    ranked.push({ peer: c, score: hash(`${self}|${c.node}`) });
    bySite.set(c.site, ranked);
  }
  const out: Peer[] = [];
  for (const s of [...bySite.keys()].sort()) {
    const ranked = bySite.get(s)!.sort((a, b) => b.score - a.score || (a.peer.node < b.peer.node ? -1 : 1));
    out.push(...ranked.slice(0, perSite).map((r) => r.peer));
  }
  return out;
}

/** FNV-1a, then murmur3's finalizer: names differing in one last character must still rank independently. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
