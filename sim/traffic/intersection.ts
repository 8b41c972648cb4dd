import type { IPublishPacket } from 'mqtt';
import { APPROACHES, type Approach, type IntersectionModel } from './model.ts';
import type { SimDevice } from './devices.ts';
import type { IntersectionLayout } from './layout.ts';
import { parseCommand, parseDesired, type ParsedCommand, type Via } from './signal-command.ts';
import type { IntersectionStats, TrafficCounters } from './stats.ts';

export interface IntersectionDevices {
  loops: Record<Approach, SimDevice>;
  camera: SimDevice;
  light: SimDevice;
}

export interface IntersectionOptions {
  /** Model time 0, ms since the epoch. */
  startedAt: number;
  /** Between two messages of a sensor. */
  periodMs: number;
  /** When this intersection's sensors first publish, after startedAt: spreads the intersections over a period. */
  offsetMs: number;
  counters: TrafficCounters;
}

/**
 * One intersection at run time: its model on the wall clock, its sensors
 * publishing every period, its light taking commands and showing its state.
 *
 * Topics (in the project's space on the edge broker):
 * - `traffic/<site>/<int>/<approach>/loop`, `traffic/<site>/<int>/camera`: sensor data, QoS 0;
 * - `signals/<site>/<int>/set`: commands to the light (QoS 1 subscription);
 * - `traffic/<site>/<int>/light`: the light's state, after every command and phase change;
 * - `devices/<light>/twin/desired|reported|ack`: its twin (docs/broker.md).
 */
export class IntersectionSim {
  private tickTimer: NodeJS.Timeout | undefined;
  private phaseTimer: NodeJS.Timeout | undefined;
  private phaseDue = 0;
  private nextTickAt: number;
  private seenPhaseChanges = 0;
  private desiredVersion = 0;
  private lastReported = '';
  /** Who sent the last command (edge or cloud), reported in the twin. */
  private controlledBy: Via | undefined;
  private stopped = false;
  private readonly topics: { loop: Record<Approach, string>; camera: string; light: string; set: string; desired: string; reported: string; ack: string };

  constructor(
    readonly layout: IntersectionLayout,
    private readonly model: IntersectionModel,
    private readonly devices: IntersectionDevices,
    private readonly o: IntersectionOptions,
  ) {
    const base = `traffic/${layout.site}/${layout.id}`;
    const twin = `devices/${layout.light}/twin`;
    this.topics = {
      loop: { n: `${base}/n/loop`, e: `${base}/e/loop`, s: `${base}/s/loop`, w: `${base}/w/loop` },
      camera: `${base}/camera`,
      light: `${base}/light`,
      set: `signals/${layout.site}/${layout.id}/set`,
      desired: `${twin}/desired`,
      reported: `${twin}/reported`,
      ack: `${twin}/ack`,
    };
    this.nextTickAt = o.startedAt + o.offsetMs - o.periodMs;
  }

  /** The light subscribes (its connection is up), shows its state; the sensors start. */
  async start(): Promise<void> {
    this.devices.light.onMessage((topic, payload, packet) => this.onLightMessage(topic, payload, packet));
    await this.devices.light.subscribe([this.topics.set, this.topics.desired]);
    const now = Date.now();
    this.model.advanceTo(now - this.o.startedAt);
    this.seenPhaseChanges = this.model.phaseChanges;
    this.publishState(now, null, null);
    this.reportTwin();
    this.armPhaseTimer(now);
    this.scheduleTick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.tickTimer);
    clearTimeout(this.phaseTimer);
  }

  stats(): IntersectionStats {
    this.sync(Date.now());
    const s = this.model.signal();
    const queues = this.model.queues();
    return { site: this.layout.site, intersection: this.layout.id, phase: s.phase, greenNsMs: s.greenNsMs, greenEwMs: s.greenEwMs, queue: Math.max(...APPROACHES.map((a) => queues[a])), queues };
  }

  private scheduleTick(): void {
    if (this.stopped) return;
    const now = Date.now();
    this.nextTickAt += this.o.periodMs;
    // Fallen behind by more than a period (a busy event loop): skip ahead instead of bursting.
    if (this.nextTickAt < now - this.o.periodMs) this.nextTickAt = now;
    this.tickTimer = setTimeout(() => this.onTick(), Math.max(0, this.nextTickAt - now));
  }

  private onTick(): void {
    if (this.stopped) return;
    const ts = Date.now();
    this.sync(ts);
    const { site, id: intersection } = this.layout;
    for (const approach of APPROACHES) {
      const d = this.devices.loops[approach];
      // A disconnected detector keeps counting: its next message carries the vehicles meanwhile.
      if (!d.connected) {
        this.o.counters.dropped++;
        continue;
      }
      d.publish(this.topics.loop[approach], JSON.stringify({ ts, site, intersection, approach, ...this.model.readLoop(approach) }));
    }
    this.devices.camera.publish(this.topics.camera, JSON.stringify({ ts, site, intersection, queue: this.model.queues() }));
    this.scheduleTick();
  }

  /** Advances the model to the wall clock; a phase change shows on the light. */
  private sync(now: number): void {
    if (this.stopped) return;
    this.model.advanceTo(now - this.o.startedAt);
    if (this.model.phaseChanges !== this.seenPhaseChanges) {
      this.seenPhaseChanges = this.model.phaseChanges;
      this.publishState(now, null, null);
      this.reportTwin();
    }
    this.armPhaseTimer(now);
  }

  private armPhaseTimer(now: number): void {
    if (this.stopped) return;
    const due = now + this.model.msToPhaseEnd();
    if (due === this.phaseDue && this.phaseTimer) return;
    clearTimeout(this.phaseTimer);
    this.phaseDue = due;
    this.phaseTimer = setTimeout(() => this.sync(Date.now()), due - now + 1);
  }

  private onLightMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (this.stopped) return;
    if (topic === this.topics.set) {
      this.apply(parseCommand(payload), false);
      return;
    }
    if (topic !== this.topics.desired) return;
    const d = parseDesired(payload);
    if ('error' in d) {
      this.o.counters.recordCommand('cloud', { invalid: true });
      return;
    }
    // Intermediate versions collapse into the latest; a resubscription delivers the applied one again.
    if (d.version <= this.desiredVersion) return;
    this.desiredVersion = d.version;
    // A retained document is state from before, not a decision just made: applied, but no latency.
    this.apply(d.parsed, packet.retain);
    this.devices.light.publish(this.topics.ack, JSON.stringify({ version: d.version }), 1);
  }

  private apply(p: ParsedCommand | { error: string }, retained: boolean): void {
    if ('error' in p) {
      this.o.counters.recordCommand('unknown', { invalid: true });
      return;
    }
    if (!Object.keys(p.command).length && p.sensorTs === undefined) return;
    this.sync(Date.now());
    const r = this.model.command(p.command);
    const now = Date.now();
    const latencyMs = p.sensorTs !== undefined && !retained ? now - p.sensorTs : undefined;
    this.o.counters.recordCommand(p.via, { latencyMs, clamped: r.clamped });
    this.seenPhaseChanges = this.model.phaseChanges;
    this.publishState(now, latencyMs ?? null, p.via);
    this.reportTwin();
    this.armPhaseTimer(now);
  }

  private publishState(ts: number, latencyMs: number | null, via: Via | null): void {
    const s = this.model.signal();
    if (via) this.controlledBy = via;
    const id = `${this.layout.site}/${this.layout.id}`;
    this.devices.light.publish(this.topics.light, JSON.stringify({ ts, id, phase: s.phase, greenNsMs: s.greenNsMs, greenEwMs: s.greenEwMs, latencyMs, via }), 1);
  }

  /** The twin's reported document, when it changed. */
  private reportTwin(): void {
    const s = this.model.signal();
    const doc = JSON.stringify({ phase: s.phase, greenNsMs: s.greenNsMs, greenEwMs: s.greenEwMs, ...(this.controlledBy ? { via: this.controlledBy } : {}) });
    if (doc === this.lastReported || !this.devices.light.connected) return;
    this.lastReported = doc;
    this.devices.light.publish(this.topics.reported, doc, 1);
  }
}
