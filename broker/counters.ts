import type { BrokerStats, DeviceRef } from './types.ts';

/** What the broker counts; plain fields, bumped on the message path. */
export class Counters {
  messagesIn = 0;
  messagesOut = 0;
  deniedAuth = 0;
  deniedPublish = 0;
  deniedSubscribe = 0;
  /** Connections closed at once because the broker (or their address) held its limit. */
  refusedConnections = 0;
  private readonly byDevice = new Map<string, DeviceRef & { denied: number }>();

  /** An ACL refusal, counted for the device too. */
  deny(kind: 'publish' | 'subscribe', who: DeviceRef & { key: string }): void {
    if (kind === 'publish') this.deniedPublish++;
    else this.deniedSubscribe++;
    const d = this.byDevice.get(who.key);
    if (d) d.denied++;
    else this.byDevice.set(who.key, { project: who.project, device: who.device, denied: 1 });
  }

  snapshot(connections: number): BrokerStats {
    return {
      connections,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      denied: { auth: this.deniedAuth, publish: this.deniedPublish, subscribe: this.deniedSubscribe },
      refusedConnections: this.refusedConnections,
      deniedByDevice: [...this.byDevice.values()].map((d) => ({ ...d })),
    };
  }
}
