import { createHash, timingSafeEqual } from 'node:crypto';
import { HELLO_HOLDS_MAX, routeRunsAt, type Device, type DeviceCommand, type DeviceCredential, type EdgeObject, type Node, type Route, type Rule, type Site, projectOf, nameKey } from '../../core/index.ts';
import type { DeviceDirectory, DeviceIdentity } from '../../broker/index.ts';
import { objectKey } from '../sync.ts';


/** What one sync step changed among the site's devices, for the agent to act on (kick, deliver, forget). */
export interface EdgeChange {
  /** `project/device` of devices that lost a credential or were deleted: their sessions are re-checked. */
  revoked: string[];
  /** Commands added or changed. */
  commands: DeviceCommand[];
  /** Devices added or changed (desired twin, grants). */
  devices: Device[];
  routesChanged: boolean;
  /** A Rule, or this node's own Node or Site (which rule targets read), changed. */
  rulesChanged: boolean;
}

/** Device secrets have the API tokens' shape: `gdg_<credential id>_<secret>`, the id naming the DeviceCredential. */
const TOKEN = /^gdg_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/;


/**
 * The site's devices, their credentials and commands, and the routes, as
 * synced from the center and kept in local state: what lets the edge
 * authenticate and serve its devices while the center is out of reach.
 */
export class EdgeObjects implements DeviceDirectory {
  private readonly all = new Map<string, EdgeObject>();
  private readonly devices = new Map<string, Device>();
  /** By `project/credential id`. */
  private readonly credentials = new Map<string, DeviceCredential>();
  private readonly commands = new Map<string, DeviceCommand>();
  private readonly routeList = new Map<string, Route>();
  private readonly ruleList = new Map<string, Rule>();
  /** This node's own Node and Site objects (the center sends only those). */
  private self: { node?: Node; site?: Site } = {};

  constructor(private readonly now: () => number = Date.now) {}

  has(key: string): boolean {
    return this.all.has(key);
  }

  keys(): IterableIterator<string> {
    return this.all.keys();
  }

  /** Applies synced puts and removals (by object key); on a snapshot, everything not put goes. */
  apply(put: Map<string, EdgeObject>, remove: string[], replaceAll: boolean): EdgeChange {
    const change: EdgeChange = { revoked: [], commands: [], devices: [], routesChanged: false, rulesChanged: false };
    const gone = replaceAll ? [...this.all.keys()].filter((k) => !put.has(k)) : remove;
    for (const key of gone) {
      const o = this.all.get(key);
      if (!o) continue;
      this.all.delete(key);
      this.index(o, false, change);
    }
    for (const [key, o] of put) {
      const prev = this.all.get(key);
      if (prev && JSON.stringify(prev) === JSON.stringify(o)) continue;
      this.all.set(key, o);
      this.index(o, true, change);
    }
    return change;
  }

  /** Checks a device's secret against its unexpired credentials (sha256, timing-safe). */
  authenticate(project: string, device: string, secret: string): DeviceIdentity | null {
    const m = TOKEN.exec(secret);
    if (!m) return null;
    const cred = this.credentials.get(nameKey(project, m[1]!));
    if (!cred || cred.spec.device !== device || cred.spec.hash === undefined) return null;
    if (cred.spec.expiresAt && Date.parse(cred.spec.expiresAt) <= this.now()) return null;
    const given = createHash('sha256').update(m[2]!).digest();
    if (!timingSafeEqual(given, Buffer.from(cred.spec.hash, 'hex'))) return null;
    return this.lookup(project, device);
  }

  /**
   * A device that presented a client certificate (already verified against
   * the center's CA by the TLS handshake): it must be on record as one of the
   * device's credentials (named by its serial, same fingerprint), unexpired.
   */
  authenticateCertificate(project: string, device: string, serial: string, fingerprint: string): DeviceIdentity | null {
    const cred = this.credentials.get(nameKey(project, serial));
    if (!cred || cred.spec.device !== device || cred.spec.certificate?.fingerprint !== fingerprint) return null;
    if (cred.spec.expiresAt && Date.parse(cred.spec.expiresAt) <= this.now()) return null;
    return this.lookup(project, device);
  }

  /** The device's current identity; null once it or every credential of it is gone. */
  lookup(project: string, device: string): DeviceIdentity | null {
    const d = this.devices.get(nameKey(project, device));
    if (!d) return null;
    return d.spec.roaming ? { project, device, grants: d.spec.grants, roaming: true } : { project, device, grants: d.spec.grants };
  }

  device(project: string, name: string): Device | undefined {
    return this.devices.get(nameKey(project, name));
  }

  /** The routes that run at this site. */
  routes(site: string | undefined): Route[] {
    return [...this.routeList.values()].filter((r) => routeRunsAt(r, site));
  }

  /** Every Rule (the agent runs those that target it). */
  rules(): Rule[] {
    return [...this.ruleList.values()];
  }

  /**
   * The rules and routes held here (all of them, running or not), for hello:
   * what the center may tell this node to forget. Past the protocol's bound,
   * none (the center then sends a snapshot).
   */
  heldRulesAndRoutes(): { kind: 'Rule' | 'Route'; project: string; name: string }[] | undefined {
    if (this.ruleList.size + this.routeList.size > HELLO_HOLDS_MAX) return undefined;
    const held = (kind: 'Rule' | 'Route', list: Iterable<Rule | Route>) => [...list].map((o) => ({ kind, project: projectOf(o), name: o.metadata.name }));
    return [...held('Rule', this.ruleList.values()), ...held('Route', this.routeList.values())];
  }

  /** This node's Node and Site as the center last sent them (labels, tier). */
  own(): { node?: Node; site?: Site } {
    return this.self;
  }

  /** The site's devices known here (synced from the center). */
  get deviceCount(): number {
    return this.devices.size;
  }

  pendingCommands(): DeviceCommand[] {
    return [...this.commands.values()];
  }

  private index(o: EdgeObject, present: boolean, change: EdgeChange): void {
    const project = projectOf(o);
    switch (o.kind) {
      case 'Device': {
        const key = nameKey(project, o.metadata.name);
        if (present) {
          this.devices.set(key, o);
          change.devices.push(o);
        } else {
          this.devices.delete(key);
          change.revoked.push(key);
        }
        return;
      }
      case 'DeviceCredential': {
        const key = nameKey(project, o.metadata.name);
        if (present) this.credentials.set(key, o);
        else {
          this.credentials.delete(key);
          change.revoked.push(nameKey(project, o.spec.device));
        }
        return;
      }
      case 'DeviceCommand': {
        const key = objectKey(o);
        if (present) {
          this.commands.set(key, o);
          change.commands.push(o);
        } else this.commands.delete(key);
        return;
      }
      case 'Route':
        if (present) this.routeList.set(objectKey(o), o);
        else this.routeList.delete(objectKey(o));
        change.routesChanged = true;
        return;
      case 'Rule':
        if (present) this.ruleList.set(objectKey(o), o);
        else this.ruleList.delete(objectKey(o));
        change.rulesChanged = true;
        return;
      case 'Node':
        this.self = { ...this.self, node: present ? o : undefined };
        change.rulesChanged = true;
        return;
      case 'Site':
        this.self = { ...this.self, site: present ? o : undefined };
        change.rulesChanged = true;
        return;
      default:
        return;
    }
  }
}
