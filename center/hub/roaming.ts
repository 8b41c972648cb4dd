import { nameKey, type CenterMessage, type RoamedMessage, type RoamedSession } from '../../core/index.ts';
import type { Store } from '../store/store.ts';

/** How long the node holding a session may take to hand it over before the puller is told it could not. */
export const ROAM_EXPORT_TIMEOUT_MS = 5000;
/** How long a hand-over that timed out is remembered, so that a session still handed over late is not lost. */
const LATE_MS = 60_000;
/** Steps (pulls, forwards) waiting for one device at most; a forward past it is dropped, a pull answered unavailable. */
const STEPS_PER_DEVICE = 1000;
/** Devices whose holder the center remembers at most (the oldest forgotten first: then their Device status says). */
const HOLDERS_MAX = 100_000;
/** Sessions on their way whose arrival the center waits to hear of at most (the node that handed one over takes it back unheard). */
const ARRIVALS_MAX = 10_000;

type Send = (m: CenterMessage) => void;
/** One agent connection, as the relay sees it. */
export interface RoamConn {
  node: string;
  via: object;
  send: Send;
}

interface Asked {
  key: string;
  project: string;
  device: string;
  /** The node asked to hand the session over, and its connection. */
  node: string;
  via: object;
  /** Set while the puller waits; cleared once it was told (timed out: a late answer goes to the session's holder). */
  settle: ((s: RoamedSession | null | undefined) => void) | undefined;
  timer: NodeJS.Timeout;
}

export interface RoamCounters {
  /** Pulls by outcome: moved (a session came), none (nothing to bring), unavailable (its node not connected, or it did not answer). */
  pulls(outcome: 'moved' | 'none' | 'unavailable'): void;
  /** Forwarded messages by outcome: relayed, or dropped (no connected holder, or back to its sender). */
  forwards(outcome: 'relayed' | 'dropped', n: number): void;
}

/**
 * Roaming devices' MQTT sessions between edge brokers, relayed through the
 * center (docs/broker.md, "Roaming"). A node whose broker a roaming device
 * connects to pulls its session (roam.pull); the center asks the node that
 * holds it (roam.export), relays the answer (roam.session -> roam.pulled),
 * and from then on knows the puller as the holder: messages the old broker
 * forwards (roam.forward) go there. Everything about one device happens in
 * order, one step at a time.
 *
 * Who holds a session is known from the pulls since the center started, else
 * from the node the device was last seen connected to (Device status). The
 * session checks that a node speaks only for devices of its sites; an answer
 * counts only from the node asked, under the id it was asked with.
 */
export class RoamingRelay {
  private nextId = 1;
  private readonly holders = new Map<string, string>();
  private readonly chains = new Map<string, { tail: Promise<void>; waiting: number }>();
  private readonly asked = new Map<number, Asked>();
  /** Sessions sent on, by their ack: the node that handed each over (and under which export id), and the node it went to. */
  private readonly arrivals = new Map<number, { exporter: string; exportId: number; to: string }>();
  private nextAck = 1;

  constructor(
    private readonly store: Store,
    private readonly sessions: (node: string) => RoamConn | undefined,
    private readonly counters: RoamCounters,
    private readonly timeoutMs = ROAM_EXPORT_TIMEOUT_MS,
  ) {}

  /** A node's pull of a device of its sites (the session checked): answered with roam.pulled. */
  pull(from: RoamConn, m: { id: number; project: string; device: string; clean: boolean }): Promise<void> {
    return this.inOrder(nameKey(m.project, m.device), async (key) => {
      const holder = await this.holderOf(key, m.project, m.device);
      this.remember(key, from.node);
      const reply = (session: RoamedSession | null, extra: { from?: string; error?: string } = {}, exportId = 0) => this.toPuller(key, from, { t: 'roam.pulled', id: m.id, project: m.project, device: m.device, session, ...extra }, holder, exportId);
      if (holder === undefined || holder === from.node) {
        this.counters.pulls('none');
        return reply(null);
      }
      const target = this.sessions(holder);
      if (target === undefined) {
        this.counters.pulls('unavailable');
        return reply(null, { from: holder, error: `node "${holder}", which held the session, is not connected` });
      }
      const { id: exportId, session } = await this.ask(key, m, target);
      if (session === undefined) {
        this.counters.pulls('unavailable');
        return reply(null, { from: holder, error: `node "${holder}", which held the session, did not hand it over within ${this.timeoutMs / 1000} s` });
      }
      this.counters.pulls(session ? 'moved' : 'none');
      reply(session, { from: holder }, exportId);
    }, () => {
      this.counters.pulls('unavailable');
      from.send({ t: 'roam.pulled', id: m.id, project: m.project, device: m.device, session: null, error: `too many hand-overs of this device are waiting` });
    });
  }

  /** The answer of a node asked to hand a session over; false when nothing of that id was asked of that node. */
  answer(node: string, id: number, session: RoamedSession | null): boolean {
    const a = this.asked.get(id);
    if (a?.node !== node) return false;
    this.asked.delete(id);
    clearTimeout(a.timer);
    if (a.settle) a.settle(session);
    else if (session) {
      // Too late for the pull that asked: the session goes to whoever holds the device now.
      const holder = this.holders.get(a.key);
      const conn = (holder !== undefined ? this.sessions(holder) : undefined) ?? this.sessions(node);
      if (conn) this.sendSession(conn, { t: 'roam.pulled', id: 0, project: a.project, device: a.device, session, from: node }, node, id);
    }
    return true;
  }

  /** A node says a session sent on under `ack` is in its broker's store: the node that handed it over is told it may forget its copy. */
  imported(node: string, ack: number): boolean {
    const a = this.arrivals.get(ack);
    if (a?.to !== node) return false;
    this.arrivals.delete(ack);
    this.sessions(a.exporter)?.send({ t: 'roam.confirmed', id: a.exportId });
    return true;
  }

  /** Messages a node's broker forwards for a device of its sites (the session checked) whose session left it. */
  forward(from: RoamConn, m: { project: string; device: string; hops: number; messages: RoamedMessage[] }): Promise<void> {
    return this.inOrder(nameKey(m.project, m.device), async (key) => {
      const holder = await this.holderOf(key, m.project, m.device);
      // The sender holds the session again (the device came back while these were on their way): they go back to it.
      const conn = holder === from.node ? from : holder !== undefined ? this.sessions(holder) : undefined;
      if (conn === undefined) return this.counters.forwards('dropped', m.messages.length);
      conn.send({ t: 'roam.forward', project: m.project, device: m.device, hops: m.hops, messages: m.messages });
      this.counters.forwards('relayed', m.messages.length);
    }, () => this.counters.forwards('dropped', m.messages.length));
  }

  /** A node's connection closed: what it was asked is answered as not handed over. */
  ended(node: string, via: object): void {
    for (const [id, a] of this.asked) {
      if (a.node !== node || a.via !== via) continue;
      this.asked.delete(id);
      clearTimeout(a.timer);
      a.settle?.(undefined);
    }
  }

  /** Hand-overs waiting for an answer (tests, metrics). */
  get waiting(): number {
    return this.asked.size;
  }

  private ask(key: string, m: { project: string; device: string; clean: boolean }, target: RoamConn): Promise<{ id: number; session: RoamedSession | null | undefined }> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const a: Asked = {
        key,
        project: m.project,
        device: m.device,
        node: target.node,
        via: target.via,
        settle: (session) => resolve({ id, session }),
        timer: setTimeout(() => {
          // Remembered a while longer: a session handed over after all is not lost.
          a.settle = undefined;
          resolve({ id, session: undefined });
          a.timer = setTimeout(() => this.asked.delete(id), LATE_MS).unref();
        }, this.timeoutMs),
      };
      this.asked.set(id, a);
      target.send({ t: 'roam.export', id, project: m.project, device: m.device, clean: m.clean });
    });
  }

  /**
   * The pull's answer. A puller that reconnected meanwhile gets it on its new
   * connection; one that is gone sends the session back where it came from,
   * which holds it again.
   */
  private toPuller(key: string, from: RoamConn, msg: Extract<CenterMessage, { t: 'roam.pulled' }>, holder: string | undefined, exportId: number): void {
    const now = this.sessions(from.node);
    const send = (conn: RoamConn, m: Extract<CenterMessage, { t: 'roam.pulled' }>) => (m.session && holder !== undefined ? this.sendSession(conn, m, holder, exportId) : conn.send(m));
    if (now?.via === from.via) return send(from, msg);
    if (!msg.session) return;
    if (now !== undefined) return send(now, { ...msg, id: 0 });
    const back = holder !== undefined ? this.sessions(holder) : undefined;
    if (back === undefined) return;
    this.remember(key, holder!);
    send(back, { ...msg, id: 0 });
  }

  /** Sends a session on, with the ack its receiver answers once it is stored (roam.imported). */
  private sendSession(conn: RoamConn, msg: Extract<CenterMessage, { t: 'roam.pulled' }>, exporter: string, exportId: number): void {
    const ack = this.nextAck++;
    this.arrivals.set(ack, { exporter, exportId, to: conn.node });
    if (this.arrivals.size > ARRIVALS_MAX) this.arrivals.delete(this.arrivals.keys().next().value!);
    conn.send({ ...msg, ack });
  }

  private async holderOf(key: string, project: string, device: string): Promise<string | undefined> {
    const known = this.holders.get(key);
    if (known !== undefined) return known;
    return (await this.store.get('Device', project, device))?.status?.node;
  }

  /** Runs `step` after every earlier step for the same device; `full` instead when STEPS_PER_DEVICE are waiting already. */
  private inOrder(key: string, step: (key: string) => Promise<void>, full: () => void): Promise<void> {
    const chain = this.chains.get(key) ?? { tail: Promise.resolve(), waiting: 0 };
    if (chain.waiting >= STEPS_PER_DEVICE) {
      full();
      return Promise.resolve();
    }
    chain.waiting++;
    const run = chain.tail.then(() => step(key)).finally(() => chain.waiting--);
    chain.tail = run.catch(() => undefined);
    this.chains.set(key, chain);
    const tail = chain.tail;
    void tail.then(() => {
      if (this.chains.get(key) === chain && chain.tail === tail) this.chains.delete(key);
    });
    return run;
  }

  private remember(key: string, node: string): void {
    this.holders.delete(key);
    this.holders.set(key, node);
    if (this.holders.size > HOLDERS_MAX) this.holders.delete(this.holders.keys().next().value!);
  }
}
