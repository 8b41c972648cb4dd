import type { Logger } from 'pino';
import { ROAM_FORWARD_MAX, ROAM_HOPS_MAX, ROAM_SESSION_BYTES_MAX, type AgentMessage, type CenterMessage, type RoamedMessage } from '../../core/index.ts';
import type { DeviceRef, EdgeBroker } from '../../broker/index.ts';

/** How long a roaming device's CONNACK waits for its session to come from the broker that held it. */
export const PULL_WAIT_MS = 3000;
/** How long a session handed over is kept here for the new broker to say it has it; unheard, it is taken back. */
export const CONFIRM_WAIT_MS = 30_000;
/** Bytes of forwarded messages (topics and base64 payloads) held while the center is out of reach, for every device together; past it, new ones are dropped. */
const OUTBOX_BYTES_MAX = 16 * 1024 * 1024;

/** What roaming did on this node since the agent started (agent /metrics). */
export interface RoamingFigures {
  /** Pulls by outcome: moved (a session came), none (none elsewhere), unavailable (its holder could not be asked), timeout (the CONNACK went without it), offline (the center out of reach). */
  pulls: Record<'moved' | 'none' | 'unavailable' | 'timeout' | 'offline', number>;
  /** Sessions handed to other brokers. */
  exported: number;
  /** Of those, taken back: their arrival was not confirmed in time. */
  takenBack: number;
  /** Messages forwarded: out (to the device's session elsewhere), in (taken into a session here), dropped (too many hops, held too long, or no subscription here). */
  forwarded: Record<'out' | 'in' | 'dropped', number>;
  /** Devices whose session left this broker, which it forwards for. */
  forwarding: number;
}

export interface RoamingDeps {
  broker: () => EdgeBroker | undefined;
  /** To the center while caught up (it checks what the node may speak for against its feed); false when not sent. */
  send: (m: AgentMessage) => boolean;
  log: Logger;
}

type Pulled = Extract<CenterMessage, { t: 'roam.pulled' }>;
type Forward = Extract<CenterMessage, { t: 'roam.forward' }>;

/**
 * The agent's side of roaming devices (docs/broker.md, "Roaming"), over its
 * connection to the center: a roaming device connecting to this node's
 * broker has its session pulled here before its CONNACK (at most
 * PULL_WAIT_MS; a session that comes later still joins it); the center's
 * roam.export hands a session held here to another node; messages for a
 * session that left are forwarded (batched per turn, held while the center is
 * out of reach), and forwards for a session here are taken in.
 */
export class Roaming {
  private nextId = 1;
  private readonly pulls = new Map<number, { ref: DeviceRef; done: () => void }>();
  /** Sessions handed over and not yet confirmed at their new broker, by export id. */
  private readonly leaving = new Map<number, NodeJS.Timeout>();
  private readonly outbox = new Map<string, { ref: DeviceRef; hops: number; messages: RoamedMessage[] }>();
  private outboxBytes = 0;
  private flushing = false;
  private readonly figures: Omit<RoamingFigures, 'forwarding'> = { pulls: { moved: 0, none: 0, unavailable: 0, timeout: 0, offline: 0 }, exported: 0, takenBack: 0, forwarded: { out: 0, in: 0, dropped: 0 } };

  constructor(private readonly d: RoamingDeps) {}

  /** The broker's onRoam hook: resolves once the session is here, or there is none, or after PULL_WAIT_MS. Never rejects. */
  readonly onRoam = (ref: DeviceRef, o: { clean: boolean }): Promise<void> => {
    const id = this.nextId++;
    if (!this.d.send({ t: 'roam.pull', id, project: ref.project, device: ref.device, clean: o.clean })) {
      this.figures.pulls.offline++;
      this.d.log.info({ event: 'roam', device: `${ref.project}/${ref.device}` }, 'roaming device connected while the center is out of reach: its session elsewhere stays there');
      return Promise.resolve();
    }
    // A clean start brings nothing: the old session just ends where it is.
    if (o.clean) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.pulls.delete(id);
        this.figures.pulls.timeout++;
        resolve();
      }, PULL_WAIT_MS);
      this.pulls.set(id, {
        ref,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  };

  /** The broker's onForward hook: a message for a session that left; out to the center with the others of this turn. */
  readonly onForward = (ref: DeviceRef, msg: RoamedMessage, hops: number): void => {
    if (hops > ROAM_HOPS_MAX) {
      this.figures.forwarded.dropped++;
      return;
    }
    const size = sizeOf(msg);
    if (this.outboxBytes + size > OUTBOX_BYTES_MAX) {
      this.figures.forwarded.dropped++;
      return;
    }
    const key = `${ref.project}/${ref.device}/${hops}`;
    let box = this.outbox.get(key);
    if (box === undefined) this.outbox.set(key, (box = { ref, hops, messages: [] }));
    box.messages.push(msg);
    this.outboxBytes += size;
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  };

  /** The center's answer to a pull (id 0: a session handed over late, or sent back here). */
  pulled(m: Pulled): void {
    this.guarded('taking a roaming session', () => this.takePulled(m));
  }

  /** The center asks for a session held here: it leaves, and its forwards start. */
  export(m: Extract<CenterMessage, { t: 'roam.export' }>): void {
    this.guarded('handing a roaming session over', () => this.handOver(m));
  }

  /** The session handed over under export `id` is stored at its new broker. */
  confirmed(m: Extract<CenterMessage, { t: 'roam.confirmed' }>): void {
    clearTimeout(this.leaving.get(m.id));
    this.leaving.delete(m.id);
  }

  /** Messages forwarded here for a session; taken in, or on again if it left. */
  forwarded(m: Forward): void {
    this.guarded('taking forwarded messages', () => this.takeForwarded(m));
  }

  private guarded(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.d.log.error({ err, event: 'roam' }, `${what} failed`);
    }
  }

  private takePulled(m: Pulled): void {
    const p = this.pulls.get(m.id);
    if (p) this.pulls.delete(m.id);
    const ref = { project: m.project, device: m.device };
    const device = `${m.project}/${m.device}`;
    if (m.session) {
      const broker = this.d.broker();
      if (broker === undefined) this.d.log.warn({ event: 'roam', device, from: m.from }, 'a roaming session came while the broker is down: it is lost');
      else {
        const got = broker.importSession(ref, m.session);
        if (m.ack !== undefined) this.d.send({ t: 'roam.imported', ack: m.ack });
        this.d.log.info({ event: 'roam', device, from: m.from, ...got, late: m.id === 0 || !p }, 'roaming session taken over');
      }
    } else if (m.error) this.d.log.warn({ event: 'roam', device, from: m.from, error: m.error }, 'roaming session could not be brought here');
    if (p) {
      if (m.session) this.figures.pulls.moved++;
      else if (m.error) this.figures.pulls.unavailable++;
      else this.figures.pulls.none++;
      p.done();
    }
  }

  private handOver(m: Extract<CenterMessage, { t: 'roam.export' }>): void {
    const ref = { project: m.project, device: m.device };
    const broker = this.d.broker();
    const session = broker?.exportSession(ref, m.clean) ?? null;
    if (!this.d.send({ t: 'roam.session', id: m.id, session })) {
      // It could not leave after all: it stays here.
      if (session) broker!.importSession(ref, session);
      return;
    }
    if (session) {
      this.figures.exported++;
      // Kept until the new broker says it has it: lost on the way (the center restarted, that broker was down), it comes back here.
      const timer = setTimeout(() => this.guarded('taking a roaming session back', () => {
        this.leaving.delete(m.id);
        this.figures.takenBack++;
        this.d.log.warn({ event: 'roam', device: `${m.project}/${m.device}` }, 'a roaming session handed over was not confirmed at its new broker: taken back');
        this.d.broker()?.importSession(ref, session);
      }), CONFIRM_WAIT_MS);
      timer.unref();
      this.leaving.set(m.id, timer);
      this.d.log.info({ event: 'roam', device: `${m.project}/${m.device}`, subscriptions: session.subscriptions.length, queued: session.queued.length, dropped: session.dropped }, 'roaming session handed over');
    }
  }

  private takeForwarded(m: Forward): void {
    const got = this.d.broker()?.injectForwarded({ project: m.project, device: m.device }, m.messages, m.hops);
    if (got === undefined) {
      this.figures.forwarded.dropped += m.messages.length;
      return;
    }
    this.figures.forwarded.in += got.queued;
    this.figures.forwarded.dropped += got.dropped;
  }

  /** Caught up with the center again: what waited goes now. */
  connected(): void {
    this.flush();
  }

  /** Disconnected: pulls under way give up (their CONNACKs go without the session). */
  disconnected(): void {
    for (const p of this.pulls.values()) {
      this.figures.pulls.unavailable++;
      p.done();
    }
    this.pulls.clear();
  }

  current(): RoamingFigures {
    return { ...this.figures, pulls: { ...this.figures.pulls }, forwarded: { ...this.figures.forwarded }, forwarding: this.d.broker()?.forwarding ?? 0 };
  }

  private flush(): void {
    this.flushing = false;
    for (const [key, box] of this.outbox) {
      while (box.messages.length > 0) {
        const batch = takeBatch(box.messages);
        if (!this.d.send({ t: 'roam.forward', project: box.ref.project, device: box.ref.device, hops: box.hops, messages: batch })) {
          box.messages.unshift(...batch);
          return;
        }
        this.outboxBytes -= batch.reduce((n, m) => n + sizeOf(m), 0);
        this.figures.forwarded.out += batch.length;
      }
      this.outbox.delete(key);
    }
  }
}

/** A message's bytes on the wire, about: its topic and base64 payload. */
const sizeOf = (m: RoamedMessage): number => Buffer.byteLength(m.topic) + m.payload.length + 64;

/** The first messages that fit one forward (at least one: a message alone always fits, see broker/roaming.ts). */
function takeBatch(messages: RoamedMessage[]): RoamedMessage[] {
  let bytes = 0;
  let n = 0;
  while (n < messages.length && n < ROAM_FORWARD_MAX) {
    const size = sizeOf(messages[n]!);
    if (n > 0 && bytes + size > ROAM_SESSION_BYTES_MAX) break;
    bytes += size;
    n++;
  }
  return messages.splice(0, n);
}
