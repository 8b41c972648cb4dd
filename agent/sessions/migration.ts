import type { Logger } from 'pino';
import { z } from 'zod';
import { SESSION_BYTES_MAX } from '../../core/index.ts';
import type { HostPort } from '../../core/host-port.ts';
import type { NodeTls } from '../node-certificate.ts';
import type { EndpointTable } from '../endpoints/endpoint-table.ts';
import { GatewayDialer } from '../endpoints/gateway-dialer.ts';
import { LineLink, type LinkSocket } from './line-link.ts';
import type { StatusAnswer } from './session-machine.ts';
import type { SessionKey, SessionStore } from './session-store.ts';
import type { SessionRequest } from './session-request.ts';

/** A line of a hand-over carries at most the largest document, escaped, and its framing. */
const LINE_MAX = 2 * SESSION_BYTES_MAX + 4096;
/** How long a target waits for the end of its hand-over once it said it holds the copy. */
export const COMMIT_MS = 2000;
/** How long one question to another node may take (connect, handshake, answer). */
export const ASK_MS = 1500;
/** How long an instance's request waits for its session to arrive before 503. */
export const ACQUIRE_MS = 5000;
/** How long a copy made ahead of its client is kept up to date while nothing is said on its link. */
export const PRECOPY_MS = 30_000;
/** Copies a node makes or serves ahead of their clients at once, at most. */
export const COPIES_MAX = 1000;

const answerSchema = z.discriminatedUnion('state', [
  z.object({ state: z.literal('owned'), epoch: z.number().int(), attempts: z.number().int() }),
  z.object({ state: z.literal('prepared'), epoch: z.number().int(), from: z.string() }),
  z.object({ state: z.literal('moved'), epoch: z.number().int(), to: z.string(), attempt: z.number().int(), version: z.number().int(), data: z.record(z.string(), z.unknown()).optional() }),
  z.object({ state: z.literal('absent') }),
]);
export const offerSchema = z.object({ t: z.literal('offer'), epoch: z.number().int().min(2), version: z.number().int().min(0), data: z.record(z.string(), z.unknown()), attempt: z.number().int().min(1) });
export const changeSchema = z.object({ t: z.literal('change'), attempt: z.number().int().min(1), version: z.number().int().min(1), set: z.record(z.string(), z.unknown()).optional(), delete: z.array(z.string()).optional() });
export const committedSchema = z.object({ t: z.literal('committed'), epoch: z.number().int().min(2), attempt: z.number().int().min(1), version: z.number().int().min(0) });
const preparedSchema = z.object({ t: z.literal('prepared'), attempt: z.number().int().min(1), epoch: z.number().int().min(2), version: z.number().int().min(0) });
export { answerSchema };

export interface MigrationDeps {
  store: SessionStore;
  table: EndpointTable;
  tls: () => NodeTls;
  log: Logger;
  /** A hand-over finished here, as source or target (for the figures and the log); `ahead`: the target copied it before its client came. */
  onMoved?: (k: SessionKey, from: string, to: string, bytes: number, ahead?: boolean) => void;
}

/** Whether `node` serves the Service (the directory lists an instance of it there): only those may pull its sessions or announce its clients. */
export const serves = (table: EndpointTable, node: string, project: string, service: string): boolean => !!table.get(project, service)?.backends.some((b) => b.node === node);

/**
 * The gateway's side of a session conversation with another node
 * (docs/link.md "Continuity"): the session's status here (any node of the
 * platform may ask: a copy in doubt must learn its end even from a node
 * that no longer shares a Service with it); `expect`, the caller owns it
 * and predicts its client comes here (a copy is started, `onExpect`); or
 * `pull`, a hand-over to the caller (`handOut`). Only a node serving the
 * Service may expect or pull. The session's lock is waited for ASK_MS at
 * most (the caller gives up then too), and a caller gone meanwhile changes
 * nothing.
 */
export async function serveSession(d: MigrationDeps, req: SessionRequest, link: LineLink, caller: string, onExpect: (k: SessionKey, owner: string) => void): Promise<void> {
  const k: SessionKey = { project: req.project, service: req.service, client: req.client };
  try {
    if (req.session !== 'status' && !serves(d.table, caller, req.project, req.service)) return link.send({ t: 'error', message: `${caller} does not serve ${req.project}/${req.service}` });
    if (req.session === 'pull') return await handOut(d, k, link, caller);
    if (req.session === 'expect') {
      onExpect(k, caller);
      return link.send({ t: 'ok' });
    }
    // An owner ends its attempts under way before it answers, so the answer holds (session-machine.ts `fenced`).
    const answer = await d.store.exclusive(k, () => (link.open ? d.store.fencedStatus(k, caller) : undefined), ASK_MS);
    if (answer) link.send({ t: 'status', ...answer });
  } catch (e) {
    link.send({ t: 'error', message: (e as Error).message });
  } finally {
    link.close();
  }
}

/** Hand-overs this node serves at once (each holds a connection while its copy follows). */
let handingOut = 0;

/**
 * A hand-over, as the source: the document offered as it stands and each
 * later write sent after it, while this node goes on serving; then, when
 * the target says it holds a version of this attempt, the session is the
 * target's (session-machine.ts): `committed` goes after the writes it may
 * still miss, and the document stays in the record until the target says
 * it owns the session. The target says `hold` now and then while it waits
 * for its client; silence for PRECOPY_MS, or anything else, leaves the
 * session here.
 */
async function handOut(d: MigrationDeps, k: SessionKey, link: LineLink, caller: string): Promise<void> {
  if (handingOut >= COPIES_MAX) return link.send({ t: 'error', message: `this node hands over ${COPIES_MAX} sessions at once already` });
  handingOut++;
  let stop = () => {};
  try {
    const first = await d.store.exclusive(k, () => (link.open ? d.store.offer(k) : undefined), ASK_MS);
    if (!first) return link.send({ t: 'status', ...d.store.status(k, caller) });
    link.send({ t: 'offer', ...first });
    stop = d.store.follow(k, first.attempt, (c) => link.send({ t: 'change', ...c }));
    let said: z.infer<typeof preparedSchema> | undefined;
    for (;;) {
      const m = await link.nextJson(PRECOPY_MS);
      if (m?.t === 'hold') continue;
      const p = preparedSchema.safeParse(m);
      if (!p.success) return;
      said = p.data;
      break;
    }
    const p = said;
    const moved = await d.store.exclusive(
      k,
      () => {
        if (!link.open || d.store.onPrepared(k, p) !== 'hand-over') return void link.send({ t: 'status', ...d.store.status(k, caller) });
        const data = d.store.owned(k).data;
        const out = d.store.handOver(k, caller);
        // After every write already sent on this link: the target has them all when this arrives.
        link.send({ t: 'committed', epoch: out.epoch, attempt: out.attempt, version: out.version });
        d.onMoved?.(k, d.store.node, caller, Buffer.byteLength(JSON.stringify(data)));
        return out;
      },
      ASK_MS,
    );
    // The target owns it: the document kept for it can go.
    if (moved && (await link.nextJson(ASK_MS))?.t === 'owned') await d.store.exclusive(k, () => d.store.confirm(k, caller, moved.attempt), ASK_MS);
  } finally {
    handingOut--;
    stop();
  }
}

/** After a gateway could not be reached, conversations with that node go through the center for this long before the gateway is tried again. */
const RELAYED_FOR_MS = 30_000;

/**
 * Dials other nodes' gateways for session conversations: mutual TLS, the
 * peer's certificate that node's, TLS sessions resumed. A node whose gateway
 * cannot be reached is talked to through the center (a tunnel), when there is
 * one: the same conversation, relayed.
 */
export class NodeDialer {
  private readonly gateways: GatewayDialer;
  /** Nodes whose gateway could not be reached lately, and when. */
  private readonly unreachable = new Map<string, number>();

  constructor(
    tlsOf: () => NodeTls,
    private readonly tunnel?: (node: string, req: SessionRequest) => LinkSocket,
    private readonly log?: Logger,
  ) {
    this.gateways = new GatewayDialer(tlsOf);
  }

  /** A link to `node` with the request line sent: through its gateway, or through the center when that cannot be reached (rejects when neither can). */
  async dial(gateway: HostPort, node: string, req: SessionRequest): Promise<LineLink> {
    const since = this.unreachable.get(node);
    if (this.tunnel && since !== undefined && Date.now() - since < RELAYED_FOR_MS) return new LineLink(this.tunnel(node, req), LINE_MAX);
    try {
      const link = await this.direct(gateway, node, req);
      this.unreachable.delete(node);
      return link;
    } catch (err) {
      if (!this.tunnel) throw err;
      if (since === undefined) this.log?.info({ event: 'session', node, err: (err as Error).message }, "another node's gateway cannot be reached: session conversations with it go through the center");
      this.unreachable.set(node, Date.now());
      if (this.unreachable.size > 10_000) this.unreachable.delete(this.unreachable.keys().next().value!);
      return new LineLink(this.tunnel(node, req), LINE_MAX);
    }
  }

  private direct(gateway: HostPort, node: string, req: SessionRequest): Promise<LineLink> {
    return new Promise((resolve, reject) => {
      const s = this.gateways.connect(gateway, node);
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

  /** One question, one answer: the session's status at `node`. */
  async status(gateway: HostPort, node: string, k: SessionKey): Promise<StatusAnswer> {
    const link = await this.dial(gateway, node, { session: 'status', ...k });
    try {
      const m = await link.nextJson(ASK_MS);
      const a = m?.t === 'status' ? answerSchema.safeParse(m) : undefined;
      if (!a?.success) throw new Error(`no status (${String(m?.message ?? 'no answer')})`);
      return a.data as StatusAnswer;
    } finally {
      link.close();
    }
  }

  /** Tells `node`, which serves the Service, that the client of a session owned here is likely on its way there. */
  async expect(gateway: HostPort, node: string, k: SessionKey): Promise<void> {
    const link = await this.dial(gateway, node, { session: 'expect', ...k });
    try {
      const m = await link.nextJson(ASK_MS);
      if (m?.t !== 'ok') throw new Error(`not taken (${String(m?.message ?? 'no answer')})`);
    } finally {
      link.close();
    }
  }
}
