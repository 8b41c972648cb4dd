import { nameKey, SESSION_BYTES_MAX, UnavailableError } from '../../core/index.ts';
import type { HostPort } from '../../core/host-port.ts';
import type { LineLink } from './line-link.ts';
import { advance, type Offer } from './session-machine.ts';
import { patched, sessionId, type SessionKey } from './session-store.ts';
import { ACQUIRE_MS, answerSchema, ASK_MS, changeSchema, COMMIT_MS, committedSchema, COPIES_MAX, offerSchema, type MigrationDeps, type NodeDialer } from './migration.ts';
import type { StatusAnswer } from './session-machine.ts';

/** A copy waiting for its client says `hold` this often; it gives up after COPY_LIFETIME_MS. */
const HOLD_EVERY_MS = 10_000;
const COPY_LIFETIME_MS = 10 * 60_000;
/** How long a node that served a Service is still asked about its sessions once the directory no longer lists it. */
const RECENT_MS = 10 * 60_000;

/**
 * A session being copied to this node from its owner, over one link: the
 * offer, then each write the owner makes, applied in memory in order. It
 * is written down (prepared) only when this node commits: the client is
 * here now. A copy that falls out of step, whose link ends, or that waits
 * past COPY_LIFETIME_MS, ends; nothing of it stays. It says `hold` now and
 * then, so that its source (which ends a link silent for PRECOPY_MS) keeps
 * it.
 */
class Copy {
  ended = false;
  private waiter: ((owned: boolean) => void) | undefined;
  private said: { attempt: number; epoch: number; version: number } | undefined;
  /** While the copy waits for its client: tells the source now and then that it still does. */
  private readonly holding: NodeJS.Timeout;
  private readonly until = Date.now() + COPY_LIFETIME_MS;

  constructor(
    private readonly d: MigrationDeps,
    readonly k: SessionKey,
    readonly from: string,
    private readonly link: LineLink,
    private copy: Offer,
    /** Made ahead of the client, on its owner's prediction. */
    readonly ahead: boolean,
  ) {
    // Not once committing: the source then reads this link for the target's word only.
    this.holding = setInterval(() => (Date.now() > this.until ? this.close() : this.said ? undefined : this.link.send({ t: 'hold' })), HOLD_EVERY_MS).unref();
  }

  /** Reads the owner's lines until the link ends. */
  async run(): Promise<void> {
    try {
      for (;;) {
        // The source's silence is no reason to end: a quiet session has nothing to send.
        const m = await this.link.nextJson(Math.max(1, this.until - Date.now()));
        if (!m) return;
        const change = changeSchema.safeParse(m);
        if (change.success) {
          const data = patched(this.copy.data, change.data);
          const next = advance(this.copy, { attempt: change.data.attempt, version: change.data.version, data });
          // Out of step, or grown past any Service's limit: the copy ends (its source keeps the session).
          if (!next || Buffer.byteLength(JSON.stringify(data)) > SESSION_BYTES_MAX) return;
          this.copy = next;
          continue;
        }
        const done = committedSchema.safeParse(m);
        if (done.success && this.said?.attempt === done.data.attempt) {
          // The writes it missed came before this, on the same link: the copy is at the version handed over.
          const data = this.copy.version === done.data.version ? { data: this.copy.data } : {};
          const r = this.d.store.learn(this.k, this.from, { state: 'moved', to: this.d.store.node, epoch: done.data.epoch, attempt: done.data.attempt, version: done.data.version, ...data });
          if (r?.state === 'owned') {
            this.link.send({ t: 'owned' });
            this.d.onMoved?.(this.k, this.from, this.d.store.node, Buffer.byteLength(JSON.stringify(r.data)), this.ahead);
          }
        }
        return;
      }
    } finally {
      this.ended = true;
      clearInterval(this.holding);
      this.link.close();
      this.waiter?.(this.d.store.record(this.k)?.state === 'owned');
      this.waiter = undefined;
    }
  }

  /**
   * The client is here: the copy written down as prepared, the owner told
   * which version it is; true once the session is this node's. False when
   * the link ended first (the copy may then be in doubt: the caller asks).
   */
  commit(): Promise<boolean> {
    if (this.ended) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.link.close(), COMMIT_MS);
      this.waiter = (owned) => {
        clearTimeout(timer);
        resolve(owned);
      };
      if (!this.prepare()) this.link.close();
    });
  }

  /** Ends the copy (its owner keeps the session). */
  close(): void {
    this.link.close();
  }

  private prepare(): boolean {
    if (!this.d.store.keep(this.k, this.from, this.copy)) return false;
    this.said = { attempt: this.copy.attempt, epoch: this.copy.epoch, version: this.copy.version };
    this.link.send({ t: 'prepared', ...this.said });
    return true;
  }
}

/**
 * Brings clients' sessions to this node: ahead of the client when its
 * owner predicts it is coming (`prefetch`), or when the instance serving
 * the client asks for it here (`acquire`). Owners are found among the
 * other nodes serving the Service.
 */
export class SessionMover {
  private readonly copies = new Map<string, Copy>();
  /** Per Service, the nodes seen serving it lately and their gateways. */
  private readonly recent = new Map<string, Map<string, { gateway: HostPort; until: number }>>();

  constructor(
    private readonly d: MigrationDeps,
    private readonly dialer: NodeDialer,
  ) {}

  /** Copies held ahead of their clients now. */
  get copying(): number {
    return this.copies.size;
  }

  /** Starts copying a session from its owner `from` ahead of its client (nothing when one is under way or too many are). */
  prefetch(k: SessionKey, from: string): void {
    const id = sessionId(k);
    if (this.copies.has(id) || this.copies.size >= COPIES_MAX || this.d.store.record(k)?.state === 'owned') return;
    const gw = this.gatewayOf(k, from);
    if (!gw) return;
    void this.open(k, from, gw, true).then(
      (c) => (c instanceof Copy ? this.d.log.info({ event: 'session', session: k, from }, 'session copied ahead of its client') : this.d.log.info({ event: 'session', session: k, from, state: c.state }, 'session not copied ahead: its owner no longer has it')),
      (err: Error) => this.d.log.info({ event: 'session', session: k, from, err: err.message }, 'session copy ahead of its client failed'),
    );
  }

  /** Asks `from` to hand the session over: a copy under way when it owns it, else how the session stands there. */
  private async open(k: SessionKey, from: string, gateway: HostPort, ahead: boolean): Promise<Copy | StatusAnswer> {
    const id = sessionId(k);
    const link = await this.dialer.dial(gateway, from, { session: 'pull', ...k });
    const first = await link.nextJson(ASK_MS);
    const offer = offerSchema.safeParse(first);
    if (!offer.success) {
      link.close();
      const a = first?.t === 'status' ? answerSchema.safeParse(first) : undefined;
      if (a?.success) return a.data as StatusAnswer;
      throw new Error(`${from} did not answer (${String(first?.message ?? 'nothing')})`);
    }
    const copy = new Copy(this.d, k, from, link, { epoch: offer.data.epoch, version: offer.data.version, data: offer.data.data, attempt: offer.data.attempt }, ahead);
    // A copy opened meanwhile is of an older attempt: its owner sends its writes to this one now.
    this.copies.get(id)?.close();
    this.copies.set(id, copy);
    void copy
      .run()
      .catch((err: unknown) => this.d.log.warn({ err, event: 'session', session: k }, 'session copy failed'))
      .finally(() => {
        if (this.copies.get(id) === copy) this.copies.delete(id);
      });
    return copy;
  }

  /**
   * The session here, owned (called inside the session's `exclusive`): a
   * copy under way is committed; else every other node serving the Service
   * is asked for it at once, and the owner's offer committed; else, when
   * every one answered that it has none, it starts here. A node that cannot be reached, or a copy in
   * doubt, holds it back until the deadline (503): starting it anew then
   * could make two owners.
   */
  async acquire(k: SessionKey, deadline = Date.now() + ACQUIRE_MS): Promise<void> {
    const { store } = this.d;
    let why = 'no node answered';
    for (let round = 0; Date.now() < deadline; round++) {
      if (round) await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** Math.min(round, 4), Math.max(0, deadline - Date.now()))));
      const r = store.record(k);
      if (r?.state === 'owned') return;
      if (r?.state === 'prepared') {
        // A hand-over to this node whose end it did not hear: its source says how it ended.
        await this.settle(k);
        why = `a copy from ${r.from} is in doubt until ${r.from} answers`;
        continue;
      }
      const under = this.copies.get(sessionId(k));
      if (under && !under.ended) {
        if (await under.commit()) return;
        continue;
      }
      // Every other node serving the Service is asked for it at once: the owner offers it (committed as soon as it
      // does), the others say how it stands there.
      const asked = this.peers(k).map((p) => this.open(k, p.node, p.gateway, false).then((answer) => ({ ...p, answer }), (e: Error) => ({ ...p, answer: e as Error | StatusAnswer })));
      const offered = await firstOffer(asked);
      if (offered) {
        if (await offered.answer.commit()) return;
        why = `${offered.node} offered it but the hand-over did not finish`;
        continue;
      }
      const answers = (await Promise.all(asked)) as { node: string; answer: Error | StatusAnswer }[];
      const unsure = answers.map((a) => ({ node: a.node, why: doubt(a.answer) })).find((a) => a.why);
      if (unsure) {
        why = `${unsure.node} ${unsure.why}`;
        continue;
      }
      // Every node answered, none holds it, and the one it was handed to last is this one, which lost its copy: the
      // source's answer carries the document.
      if (answers.some((a) => !(a.answer instanceof Error) && store.adopt(k, a.answer))) return;
      store.create(k);
      return;
    }
    throw new UnavailableError(`the session of ${k.client} cannot be brought here now: ${why}`, { details: [{ path: 'client', message: why }] });
  }

  /**
   * A prepared copy asks its source how the hand-over ended (called inside
   * the session's `exclusive`); nothing when it is not in doubt or the
   * source cannot be reached now.
   */
  async settle(k: SessionKey): Promise<void> {
    const r = this.d.store.record(k);
    if (r?.state !== 'prepared') return;
    const gw = this.gatewayOf(k, r.from);
    const a = gw ? await this.dialer.status(gw, r.from, k).catch(() => undefined) : undefined;
    if (a) this.d.store.learn(k, r.from, a);
  }

  /**
   * The other nodes serving the Service, with their gateways, and those that
   * served it within RECENT_MS and are still nodes of the platform: an
   * instance restarting or replaced leaves its node out of the directory
   * for a moment, and that node may own sessions.
   */
  peers(k: SessionKey): { node: string; gateway: HostPort }[] {
    const now = Date.now();
    const id = nameKey(k.project, k.service);
    const recent = this.recent.get(id) ?? new Map<string, { gateway: HostPort; until: number }>();
    for (const b of this.d.table.get(k.project, k.service)?.backends ?? []) if (b.node !== this.d.store.node && b.gateway) recent.set(b.node, { gateway: b.gateway, until: now + RECENT_MS });
    for (const [node, r] of recent) if (r.until < now || !this.d.table.isNode(node)) recent.delete(node);
    if (recent.size) this.recent.set(id, recent);
    else this.recent.delete(id);
    return [...recent].map(([node, r]) => ({ node, gateway: r.gateway }));
  }

  private gatewayOf(k: SessionKey, node: string): HostPort | undefined {
    return this.peers(k).find((p) => p.node === node)?.gateway;
  }

  /** Ends every copy under way (the node stops). */
  close(): void {
    for (const c of this.copies.values()) c.close();
    this.copies.clear();
  }
}

/** The first answer that is an offer (undefined once all came and none is). */
function firstOffer<T extends { answer: unknown }>(asked: Promise<T>[]): Promise<(T & { answer: Copy }) | undefined> {
  return new Promise((resolve) => {
    let left = asked.length;
    if (!left) resolve(undefined);
    for (const a of asked)
      void a.then((x) => {
        if (x.answer instanceof Copy) resolve(x as T & { answer: Copy });
        else if (--left === 0) resolve(undefined);
      });
  });
}

/** Why an answer to a pull holds a new session back (a node out of reach, or one holding the session without offering it); undefined when it says the node has none. */
function doubt(a: StatusAnswer | Error): string | undefined {
  if (a instanceof Error) return `cannot be reached: ${a.message}`;
  return a.state === 'prepared' || a.state === 'owned' ? `holds it (${a.state}) but did not offer it` : undefined;
}
