import type { Logger } from 'pino';
import { nowIso, type AgentMessage, type Device, type DeviceCommand, type DeviceCommandStatus, type DeviceStatus, projectOf, durationMs, nameKey, splitNameKey } from '../../core/index.ts';
import type { BrokerMessage, DeviceRef, EdgeBroker } from '../../broker/index.ts';
import type { LocalState } from '../local-state.ts';
import { objectKey } from '../sync.ts';
import type { EdgeChange, EdgeObjects } from './edge-objects.ts';
import { ackVersion, mergeReported, twinDelta, twinDocument, twinTopicOf, twinTopics, type TwinState } from './twin.ts';

export interface DeviceServiceDeps {
  broker: EdgeBroker;
  objects: EdgeObjects;
  state: LocalState;
  node: string;
  logger: Logger;
  /** Sends to the center; false while it is out of reach. */
  send: (m: AgentMessage) => boolean;
  /** How often device state is reported (coalesced). */
  reportMs?: number;
  /** How long a device has to acknowledge a command. */
  deliverTimeoutMs?: number;
}


/**
 * The edge's side of devices: twins (desired out, reported and acks in, see
 * twin.ts), cloud -> device commands (delivered when the device is connected,
 * held until their TTL otherwise), and the devices' state for the center —
 * connected, last seen, reported twin, refusals — coalesced per device and
 * sent every `reportMs` while the center is reachable (everything again after
 * a reconnect).
 */
export class DeviceService {
  private readonly twins = new Map<string, TwinState>();
  /** ms epoch: set on every publish, so a number, turned into a timestamp only when reported. */
  private readonly lastSeen = new Map<string, number>();
  private readonly connectedAt = new Map<string, string>();
  private readonly dirty = new Set<string>();
  /** Command outcomes decided here (kept while the command exists, so it is never delivered twice), by command key. */
  private readonly outcomes = new Map<string, DeviceCommandStatus & { project: string; command: string }>();
  /** Outcomes the center has not been sent yet. */
  private readonly unsent = new Set<string>();
  private readonly delivering = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly deps: DeviceServiceDeps) {
    for (const [k, v] of deps.state.records('twins')) this.twins.set(k, v as TwinState);
    for (const [k, v] of deps.state.records('delivered')) {
      this.outcomes.set(k, v as DeviceCommandStatus & { project: string; command: string });
      this.unsent.add(k);
    }
    this.timer = setInterval(() => this.tick(), deps.reportMs ?? 1000);
    this.timer.unref();
  }

  /** Publishes every device's desired twin (retained): at start and after a snapshot. */
  /** Devices connected to this edge's broker now. */
  get connected(): number {
    return this.connectedAt.size;
  }

  publishAllDesired(): void {
    for (const k of this.deps.objects.keys()) {
      if (!k.startsWith('Device/')) continue;
      const [project, name] = splitNameKey(k.slice('Device/'.length));
      const d = this.deps.objects.device(project, name);
      if (d) this.publishDesired(d);
    }
  }

  /** After a sync step: new desired twins out, revoked devices re-checked, new commands tried. */
  onChange(c: EdgeChange): void {
    for (const d of c.devices) this.publishDesired(d);
    for (const k of c.revoked) {
      const [project, device] = splitNameKey(k);
      // Whatever credential it used may be the one revoked: it signs in again if it still has a valid one.
      this.deps.broker.kick(project, device);
      if (!this.deps.objects.device(project, device)) {
        this.twins.delete(k);
        this.deps.state.deleteRecord('twins', k);
      }
    }
    for (const cmd of c.commands) void this.tryDeliver(cmd);
  }

  onConnect(id: DeviceRef): void {
    const k = nameKey(id.project, id.device);
    this.connectedAt.set(k, nowIso());
    this.lastSeen.set(k, Date.now());
    this.dirty.add(k);
    for (const cmd of this.deps.objects.pendingCommands()) if (cmd.spec.device === id.device && projectOf(cmd) === id.project) void this.tryDeliver(cmd);
  }

  onDisconnect(id: DeviceRef): void {
    const k = nameKey(id.project, id.device);
    this.connectedAt.delete(k);
    this.lastSeen.set(k, Date.now());
    this.dirty.add(k);
  }

  /**
   * A device of this site as rules see it (JOIN twins): its desired and
   * reported twin, labels, whether it is connected here and when it was last
   * seen (epoch ms); undefined for a device this edge does not know.
   */
  twin(project: string, device: string): Record<string, unknown> | undefined {
    const d = this.deps.objects.device(project, device);
    if (!d) return undefined;
    const k = nameKey(project, device);
    const t = this.twins.get(k);
    return {
      device,
      labels: d.metadata.labels,
      desired: d.spec.twin.desired,
      reported: t?.reported ?? {},
      connected: this.connectedAt.has(k),
      lastSeen: this.lastSeen.get(k) ?? null,
    };
  }

  /** Every accepted publish: last seen, and twin reports and acks. Cheap unless it is a twin topic. */
  onPublish(msg: BrokerMessage): void {
    if (!msg.device) return;
    const k = nameKey(msg.project, msg.device);
    this.lastSeen.set(k, Date.now());
    this.dirty.add(k);
    const t = twinTopicOf(msg.topic);
    if (!t || t.device !== msg.device) return;
    const answer = (accepted: boolean, body: Record<string, unknown>) => this.publish(msg.project, msg.device!, twinTopics(msg.device!).answer(t.leaf, accepted), body);
    const prev = this.twins.get(k) ?? { reported: {}, reportedVersion: 0, desiredAckVersion: 0 };
    if (t.leaf === 'get') {
      const d = this.deps.objects.device(msg.project, msg.device);
      return d ? answer(true, twinDocument(d, prev)) : answer(false, { code: 404, message: 'this edge does not know the device (deleted?)' });
    }
    let next: TwinState;
    if (t.leaf === 'reported') {
      try {
        next = mergeReported(prev, msg.payload, Date.now());
      } catch (err) {
        this.deps.logger.warn({ device: k, err: (err as Error).message }, 'twin report ignored: not a JSON object');
        return answer(false, { code: 400, message: `a reported twin update is a JSON object (${(err as Error).message})` });
      }
    } else {
      const v = ackVersion(msg.payload);
      if (v === undefined) return answer(false, { code: 400, message: 'an ack is {"version": V}, V the desired version applied' });
      // An old or repeated ack changes nothing; it is still accepted.
      if (v <= prev.desiredAckVersion) return answer(true, { desiredAckVersion: prev.desiredAckVersion });
      next = { ...prev, desiredAckVersion: v };
    }
    this.twins.set(k, next);
    this.deps.state.putRecord('twins', k, next);
    answer(true, t.leaf === 'reported' ? { reportedVersion: next.reportedVersion } : { desiredAckVersion: next.desiredAckVersion });
  }

  /** The center is back: report every device and every undelivered outcome again. */
  resynced(): void {
    for (const k of this.deps.objects.keys()) {
      if (k.startsWith('Device/')) this.dirty.add(k.slice('Device/'.length));
    }
    for (const ck of this.outcomes.keys()) this.unsent.add(ck);
    this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private publishDesired(d: Device): void {
    const version = d.metadata.generation ?? 1;
    const topics = twinTopics(d.metadata.name);
    const payload = JSON.stringify({ version, desired: d.spec.twin.desired });
    this.deps.broker.publish(projectOf(d), topics.desired, payload, { qos: 1, retain: true }).catch((err: unknown) => this.deps.logger.error({ err, device: d.metadata.name }, 'cannot publish the desired twin'));
    const delta = twinDelta(d.spec.twin.desired, this.twins.get(nameKey(projectOf(d), d.metadata.name))?.reported ?? {});
    if (Object.keys(delta).length) this.publish(projectOf(d), d.metadata.name, topics.delta, { version, delta });
  }

  /**
   * An edge -> device message of the twin's (QoS 1, not retained), published
   * only while the device listens for it: the scenario's lights report after
   * every command and subscribe to no answer, and answering them anyway cost
   * the edge control loop's p99 3-5 ms (BENCHMARKS.md, smart-city).
   */
  private publish(project: string, device: string, topic: string, body: Record<string, unknown>): void {
    if (!this.deps.broker.listens(project, device, topic)) return;
    this.deps.broker.publish(project, topic, JSON.stringify(body), { qos: 1, retain: false }).catch((err: unknown) => this.deps.logger.error({ err, topic }, 'cannot publish to a device'));
  }

  private async tryDeliver(cmd: DeviceCommand): Promise<void> {
    const ck = objectKey(cmd);
    const project = projectOf(cmd);
    if (this.outcomes.has(ck) || this.delivering.has(ck)) return;
    const due = Date.parse(cmd.metadata.createdAt ?? nowIso()) + durationMs(cmd.spec.ttl);
    if (due <= Date.now()) return this.decide(ck, project, cmd, 'Expired', `not delivered within ${cmd.spec.ttl}`);
    this.delivering.add(ck);
    try {
      const payload = typeof cmd.spec.payload === 'string' ? cmd.spec.payload : JSON.stringify(cmd.spec.payload);
      const ok = await this.deps.broker.deliver(project, cmd.spec.device, `devices/${cmd.spec.device}/${cmd.spec.topic}`, payload, this.deps.deliverTimeoutMs ?? 5000);
      if (ok) this.decide(ck, project, cmd, 'Delivered', `acknowledged by the device on ${this.deps.node}`);
    } finally {
      this.delivering.delete(ck);
    }
  }

  private decide(ck: string, project: string, cmd: DeviceCommand, phase: 'Delivered' | 'Expired', message: string): void {
    const outcome = { project, command: cmd.metadata.name, phase, node: this.deps.node, message, ...(phase === 'Delivered' ? { deliveredAt: nowIso() } : {}) };
    this.outcomes.set(ck, outcome);
    this.unsent.add(ck);
    this.deps.state.putRecord('delivered', ck, outcome);
    this.tick();
  }

  /** Sends what changed; keeps it for the next tick if the center is out of reach. */
  private tick(): void {
    const now = Date.now();
    for (const cmd of this.deps.objects.pendingCommands()) {
      const ck = objectKey(cmd);
      if (!this.outcomes.has(ck) && Date.parse(cmd.metadata.createdAt ?? nowIso()) + durationMs(cmd.spec.ttl) <= now) void this.tryDeliver(cmd);
    }
    const denied = new Map(this.deps.broker.stats().deniedByDevice.map((d) => [nameKey(d.project, d.device), d.denied]));
    if (this.dirty.size) {
      const updates: Extract<AgentMessage, { t: 'devices' }>['updates'] = [];
      for (const k of this.dirty) {
        const [project, device] = splitNameKey(k);
        if (!this.deps.objects.device(project, device)) continue;
        const twin = this.twins.get(k);
        const status: Partial<DeviceStatus> = { connected: this.connectedAt.has(k), node: this.deps.node, denied: denied.get(k) ?? 0 };
        const seen = this.lastSeen.get(k);
        if (seen) status.lastSeen = new Date(seen).toISOString();
        const since = this.connectedAt.get(k);
        if (since) status.connectedAt = since;
        if (twin) Object.assign(status, twin);
        updates.push({ project, device, status });
      }
      if (!updates.length || this.deps.send({ t: 'devices', updates })) this.dirty.clear();
    }
    for (const ck of this.outcomes.keys()) {
      // The command is gone (deleted with its device, or by someone): so is the need to remember it.
      if (this.deps.objects.has(ck)) continue;
      this.outcomes.delete(ck);
      this.unsent.delete(ck);
      this.deps.state.deleteRecord('delivered', ck);
    }
    if (this.unsent.size) {
      const updates = [...this.unsent].map((ck) => this.outcomes.get(ck)!).map(({ project, command, ...status }) => ({ project, command, status }));
      if (this.deps.send({ t: 'commands', updates })) this.unsent.clear();
    }
  }
}
