import tls from 'node:tls';
import type { Logger } from 'pino';
import { z } from 'zod';
import { SESSION_BYTES_MAX, UnavailableError } from '../../core/index.ts';
import type { HostPort } from '../../core/host-port.ts';
import type { NodeTls } from '../node-certificate.ts';
import type { EndpointTable } from '../endpoints/endpoint-table.ts';
import { isNodeCertificate, nodeTlsOptions } from '../endpoints/endpoint-gateway.ts';
import { LineLink } from './line-link.ts';
import type { Offer, StatusAnswer } from './session-machine.ts';
import type { SessionKey, SessionStore } from './session-store.ts';
import type { SessionRequest } from './session-request.ts';

/** A line of a hand-over carries at most the largest document, escaped, and its framing. */
const LINE_MAX = 2 * SESSION_BYTES_MAX + 4096;
/** How long a source stays frozen for an attempt before it gives up (still the owner). */
export const FREEZE_MS = 2000;
/** How long one question to another node may take (connect, handshake, answer). */
const ASK_MS = 1500;
/** How long an instance's request waits for its session to arrive before 503. */
export const ACQUIRE_MS = 5000;

const answerSchema = z.discriminatedUnion('state', [
  z.object({ state: z.literal('owned'), epoch: z.number().int() }),
  z.object({ state: z.literal('prepared'), epoch: z.number().int(), from: z.string() }),
  z.object({ state: z.literal('moved'), epoch: z.number().int(), to: z.string(), attempt: z.number().int() }),
  z.object({ state: z.literal('absent') }),
]);
const offerSchema = z.object({ t: z.literal('offer'), epoch: z.number().int().min(2), version: z.number().int().min(0), data: z.record(z.string(), z.unknown()), attempt: z.number().int().min(1) });

export interface MigrationDeps {
  store: SessionStore;
  table: EndpointTable;
  tls: () => NodeTls;
  log: Logger;
  /** A hand-over finished here, as source or target (for the figures and the log). */
  onMoved?: (k: SessionKey, from: string, to: string, bytes: number) => void;
}

/** Whether `node` serves the Service (the directory lists an instance of it there): only those may ask about its sessions. */
const serves = (table: EndpointTable, node: string, project: string, service: string) => !!table.get(project, service)?.backends.some((b) => b.node === node);

/**
 * The gateway's side of a session conversation with another node
 * (docs/link.md "Continuity"): its status, or a hand-over to the caller,
 * which must serve the Service itself. The session is frozen from the offer
 * until the caller says it kept it (then it is the caller's) or FREEZE_MS
 * passes or the link ends (then it stays here).
 */
export async function serveSession(d: MigrationDeps, req: SessionRequest, link: LineLink, caller: string): Promise<void> {
  const k: SessionKey = { project: req.project, service: req.service, client: req.client };
  if (!serves(d.table, caller, req.project, req.service)) {
    link.send({ t: 'error', message: `${caller} does not serve ${req.project}/${req.service}` });
    return link.close();
  }
  if (req.session === 'status') {
    link.send({ t: 'status', ...d.store.status(k) });
    return link.close();
  }
  await d.store.exclusive(k, async () => {
    const offer = d.store.offer(k);
    if (!offer) return link.send({ t: 'status', ...d.store.status(k) });
    link.send({ t: 'offer', ...offer });
    const reply = await link.nextJson(FREEZE_MS);
    if (reply?.t !== 'prepared' || reply.attempt !== offer.attempt) {
      d.log.info({ event: 'session', session: k, to: caller, attempt: offer.attempt }, 'session hand-over abandoned: it stays here');
      return;
    }
    d.store.handOver(k, offer, caller);
    link.send({ t: 'committed', epoch: offer.epoch, attempt: offer.attempt });
    d.onMoved?.(k, d.store.node, caller, Buffer.byteLength(JSON.stringify(offer.data)));
  });
  link.close();
}

/**
 * Brings a client's session to this node (the instance serving the client
 * asked for it here): from the node that owns it, make-before-break, or new
 * when no node serving the Service has it. Runs inside the session's
 * `exclusive`. A node that cannot be reached, or a copy still in doubt,
 * holds it back until ACQUIRE_MS has passed (503): creating it anew then
 * could make two owners.
 */
export class SessionMover {
  private readonly tickets = new Map<string, Buffer>();
  private context: { for: NodeTls; ctx: tls.SecureContext } | undefined;

  constructor(private readonly d: MigrationDeps) {}

  async acquire(k: SessionKey, deadline = Date.now() + ACQUIRE_MS): Promise<void> {
    const { store } = this.d;
    let why = 'no node answered';
    for (let round = 0; Date.now() < deadline; round++) {
      if (round) await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** Math.min(round, 4), Math.max(0, deadline - Date.now()))));
      const r = store.record(k);
      if (r?.state === 'owned') return;
      if (r?.state === 'prepared') {
        // A hand-over to this node whose end it did not hear: its source says how it ended.
        const gw = this.gatewayOf(k, r.from);
        const a = gw ? await this.ask(gw, r.from, { session: 'status', ...k }).catch(() => undefined) : undefined;
        if (a) store.learn(k, r.from, a);
        why = `a copy from ${r.from} is in doubt until ${r.from} answers`;
        continue;
      }
      const peers = this.peers(k);
      const answers = await Promise.all(peers.map(async (p) => ({ ...p, answer: await this.ask(p.gateway, p.node, { session: 'status', ...k }).catch((e: Error) => e) })));
      const owner = answers.find((a) => !(a.answer instanceof Error) && a.answer.state === 'owned');
      if (owner) {
        await this.pull(k, owner.node, owner.gateway).catch((e: Error) => (why = `${owner.node}: ${e.message}`));
        continue;
      }
      const unsure = answers.find((a) => a.answer instanceof Error || a.answer.state === 'prepared');
      if (unsure) {
        why = unsure.answer instanceof Error ? `${unsure.node} cannot be reached: ${unsure.answer.message}` : `${unsure.node} holds a copy in doubt`;
        continue;
      }
      store.create(k);
      return;
    }
    throw new UnavailableError(`the session of ${k.client} cannot be brought here now: ${why}`, { details: [{ path: 'client', message: why }] });
  }

  /** The other nodes serving the Service, with their gateways. */
  private peers(k: SessionKey): { node: string; gateway: HostPort }[] {
    const seen = new Map<string, HostPort>();
    for (const b of this.d.table.get(k.project, k.service)?.backends ?? []) if (b.node !== this.d.store.node && b.gateway && !seen.has(b.node)) seen.set(b.node, b.gateway);
    return [...seen].map(([node, gateway]) => ({ node, gateway }));
  }

  private gatewayOf(k: SessionKey, node: string): HostPort | undefined {
    return this.peers(k).find((p) => p.node === node)?.gateway;
  }

  /** The session from its owner: the offer kept durably, then `prepared`; `committed` makes it this node's. */
  private async pull(k: SessionKey, node: string, gateway: HostPort): Promise<void> {
    const link = await this.dial(gateway, node, { session: 'pull', ...k });
    try {
      const first = await link.nextJson(ASK_MS);
      const offer = offerSchema.safeParse(first);
      if (!offer.success) throw new Error(first?.t === 'status' ? `it no longer owns it` : `it did not offer it (${String(first?.message ?? 'no answer')})`);
      const o: Offer = { epoch: offer.data.epoch, version: offer.data.version, data: offer.data.data, attempt: offer.data.attempt };
      if (!this.d.store.keep(k, node, o)) throw new Error('its offer is older than what this node holds');
      link.send({ t: 'prepared', attempt: o.attempt });
      const done = await link.nextJson(FREEZE_MS);
      if (done?.t === 'committed' && done.attempt === o.attempt && done.epoch === o.epoch) {
        this.d.store.learn(k, node, { state: 'moved', to: this.d.store.node, epoch: o.epoch, attempt: o.attempt });
        this.d.onMoved?.(k, node, this.d.store.node, Buffer.byteLength(JSON.stringify(o.data)));
      }
      // Without `committed` the copy stays in doubt: acquire() asks the source how it ended.
    } finally {
      link.close();
    }
  }

  private async ask(gateway: HostPort, node: string, req: SessionRequest): Promise<StatusAnswer> {
    const link = await this.dial(gateway, node, req);
    try {
      const m = await link.nextJson(ASK_MS);
      const a = m?.t === 'status' ? answerSchema.safeParse(m) : undefined;
      if (!a?.success) throw new Error(`no status (${String(m?.message ?? 'no answer')})`);
      return a.data as StatusAnswer;
    } finally {
      link.close();
    }
  }

  /** Mutual TLS to another node's gateway (its certificate must be that node's), the request line sent. */
  private dial(gateway: HostPort, node: string, req: SessionRequest): Promise<LineLink> {
    const key = `${gateway.host}:${gateway.port}`;
    return new Promise((resolve, reject) => {
      const s = tls.connect({
        secureContext: this.secureContext(),
        host: gateway.host,
        port: gateway.port,
        session: this.tickets.get(key),
        checkServerIdentity: (_h, cert) => (isNodeCertificate(cert) && cert.subject.CN === node ? undefined : new Error(`the gateway's certificate is not node ${node}'s`)),
      });
      s.setNoDelay(true);
      s.on('session', (t: Buffer) => this.tickets.set(key, t));
      const timer = setTimeout(() => s.destroy(new Error('timed out')), ASK_MS);
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      s.once('secureConnect', () => {
        clearTimeout(timer);
        s.write(`${JSON.stringify(req)}\n`);
        resolve(new LineLink(s, LINE_MAX));
      });
    });
  }

  private secureContext(): tls.SecureContext {
    const t = this.d.tls();
    if (this.context?.for !== t) this.context = { for: t, ctx: tls.createSecureContext(nodeTlsOptions(t)) };
    return this.context.ctx;
  }
}
