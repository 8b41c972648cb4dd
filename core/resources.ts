import { z } from 'zod';
import { annotationsSchema, conditionSchema, labelsSchema, nameSchema, resourcesSchema, tierSchema, durationSchema } from './schema-base.ts';
import { ruleSpecSchema, ruleStatusSchema } from './rule-schema.ts';
import { instanceSpecSchema, instanceStatusSchema, runtimeKindSchema, serviceSpecSchema, serviceStatusSchema } from './workload-schema.ts';
import { geoPointSchema, taintSchema } from './placement-schema.ts';
import { overflowingSchema } from './link-schema.ts';
import { edgeUplinkStatusSchema } from './uplink-wire.ts';
import { deviceCommandSpecSchema, deviceCommandStatusSchema, deviceCredentialSpecSchema, deviceSpecSchema, deviceStatusSchema, routeSpecSchema, routeStatusSchema } from './device-schema.ts';
import { modelSpecSchema } from './model-schema.ts';

export * from './schema-base.ts';
export * from './placement-schema.ts';
export * from './device-schema.ts';
export * from './workload-schema.ts';
export * from './link-schema.ts';
export * from './rule-schema.ts';
export * from './model-schema.ts';

/**
 * The resource model: Kubernetes-style objects, defined once here. The same
 * schemas validate API input, give the TypeScript types and generate the
 * OpenAPI document (see center/api/openapi.ts).
 */

export const API_VERSION = 'gedge.io/v1';


export const metadataSchema = z
  .object({
    name: nameSchema,
    project: nameSchema.optional(),
    labels: labelsSchema.default({}),
    annotations: annotationsSchema.optional(),
    /** Store revision of the last write; send it back on apply to detect a stale write. */
    revision: z.number().int().nonnegative().optional(),
    /** Bumped on every spec change (not on status-only writes). */
    generation: z.number().int().nonnegative().optional(),
    createdAt: z.string().optional(),
    uid: z.string().optional(),
  })
  .strict();
export type Metadata = z.infer<typeof metadataSchema>;


// ---- Project -------------------------------------------------------------
/**
 * What a project's users may run, set by an admin (Projects are cluster-scoped:
 * only admin tokens write them) and checked when a Service is applied.
 * Unset fields allow everything the platform offers; every workload already
 * runs unprivileged (its project's user, no capabilities) with no host paths.
 */
export const projectPolicySchema = z
  .object({
    /** The runtimes its Services may use. */
    runtimes: z.array(runtimeKindSchema).min(1).max(8).optional(),
    /** Container images must start with one of these (e.g. "registry.example/team/", "localhost/"). */
    images: z.array(z.string().min(1).max(255)).min(1).max(100).optional(),
  })
  .strict();
export type ProjectPolicy = z.infer<typeof projectPolicySchema>;

export const projectSpecSchema = z.object({ description: z.string().max(1024).default(''), policy: projectPolicySchema.optional() }).strict();

// ---- Site ----------------------------------------------------------------
export const siteSpecSchema = z
  .object({
    tier: tierSchema,
    location: geoPointSchema.optional(),
    parent: nameSchema.optional(),
    description: z.string().max(1024).default(''),
  })
  .strict();

// ---- Node ----------------------------------------------------------------
export const nodeSpecSchema = z
  .object({
    site: nameSchema,
    capacity: resourcesSchema.default({ cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }),
    /** Cordoned nodes keep running what they have but get nothing new. */
    unschedulable: z.boolean().default(false),
    /** Repel instances that do not tolerate them (e.g. a node reserved for one team or for critical work). */
    taints: z.array(taintSchema).default([]),
  })
  .strict();
export const nodePhaseSchema = z.enum(['Pending', 'Ready', 'NotReady']);
export type NodePhase = z.infer<typeof nodePhaseSchema>;
export const nodeStatusSchema = z
  .object({
    phase: nodePhaseSchema.default('Pending'),
    lastHeartbeatAt: z.string().optional(),
    since: z.string().optional(),
    usage: z
      .object({ cpu: z.number(), memoryMiB: z.number(), diskMiB: z.number(), netRxBps: z.number().optional(), netTxBps: z.number().optional(), at: z.string() })
      .optional(),
    agent: z.object({ version: z.string(), os: z.string(), arch: z.string(), pid: z.number() }).optional(),
    /** Last store revision the agent acknowledged as applied. */
    syncedRevision: z.number().int().nonnegative().optional(),
    /** Where the node's edge MQTT broker listens for devices, when it runs one. */
    mqtt: z.object({ host: z.string(), tcp: z.number().int().optional(), ws: z.number().int().optional(), tls: z.number().int().optional(), wss: z.number().int().optional() }).strict().optional(),
    /** The workload runtimes the node's agent offers; absent: process only. */
    runtimes: z.array(z.string()).optional(),
    /** Where other nodes reach the node's endpoint gateway (GS-Link endpoints, mutual TLS), when its agent serves endpoints. */
    gateway: z.object({ host: z.string(), port: z.number().int() }).strict().optional(),
    /** The Services whose requests the node's agent overflows to upper tiers now (GS-Link offloading), from its last heartbeat. */
    overflowing: overflowingSchema.optional(),
    /** The node's store-and-forward uplink queue, from its last heartbeat. */
    uplink: edgeUplinkStatusSchema.extend({ at: z.string() }).optional(),
    conditions: z.array(conditionSchema).default([]),
  })
  .strict();

// ---- SiteLink (measured round trip between two sites) ----------------------
export const siteLinkSpecSchema = z
  .object({
    /** The two sites, in name order (the link is symmetric). */
    sites: z.tuple([nameSchema, nameSchema]).refine(([a, b]) => a < b, 'sites must be two different sites in name order'),
    /** A planned round trip, used until (and unless) one is measured. */
    declaredRtt: durationSchema({ min: '0s', max: '10m' }).optional(),
  })
  .strict();
export const linkStateSchema = z.enum(['Up', 'Stale', 'Down']);
export type LinkState = z.infer<typeof linkStateSchema>;
export const siteLinkStatusSchema = z
  .object({
    /** Up: fresh samples; Stale: none lately (the last value still stands); Down: probes fail. */
    state: linkStateSchema,
    /** Smoothed round trip (EWMA), the mean of the directions measured. */
    rttMs: z.number().nonnegative().nullable(),
    /** Smoothed deviation of samples from the EWMA. */
    jitterMs: z.number().nonnegative().default(0),
    samples: z.number().int().nonnegative(),
    /** Directions (prober site -> target site) that contributed. */
    directions: z.number().int().nonnegative(),
    measuredAt: z.string(),
  })
  .strict();

/** The store name of the link between two sites: 'a--b' in name order, or a hash when that is not a valid name. */
export function siteLinkName(a: string, b: string): string {
  const [x, y] = a < b ? [a, b] : [b, a];
  const plain = `${x}--${y}`;
  if (plain.length <= 63 && !x.includes('--') && !y.includes('--')) return plain;
  let h = 0x811c9dc5;
  for (const ch of plain) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `link-${h.toString(16)}-${x.slice(0, 20).replace(/-+$/, '')}`;
}

// ---- PriorityClass -----------------------------------------------------------
export const priorityClassSpecSchema = z
  .object({
    value: z.number().int().min(-1_000_000_000).max(1_000_000_000),
    /** Never: waits for room instead of evicting lower priorities. */
    preemptionPolicy: z.enum(['PreemptLowerPriority', 'Never']).default('PreemptLowerPriority'),
    description: z.string().max(1024).default(''),
  })
  .strict();

// ---- Event -----------------------------------------------------------------
export const eventSpecSchema = z
  .object({
    involved: z.object({ kind: z.string(), name: z.string(), project: z.string().optional() }).strict(),
    type: z.enum(['Normal', 'Warning']).default('Normal'),
    reason: z.string().min(1).max(128),
    message: z.string().max(4096).default(''),
    source: z.string().default('center'),
    at: z.string(),
  })
  .strict();

// ---- Kinds ----------------------------------------------------------------------
function kindSchema<K extends string, S extends z.ZodTypeAny, T extends z.ZodTypeAny>(kind: K, spec: S, status: T) {
  return z
    .object({
      apiVersion: z.literal(API_VERSION).default(API_VERSION),
      kind: z.literal(kind),
      metadata: metadataSchema,
      spec,
      status: status.optional(),
    })
    .strict();
}
const noStatus = z.object({}).strict();

export const projectSchema = kindSchema('Project', projectSpecSchema.default({ description: '' }), noStatus);
export const siteSchema = kindSchema('Site', siteSpecSchema, noStatus);
export const nodeSchema = kindSchema('Node', nodeSpecSchema, nodeStatusSchema);
export const serviceSchema = kindSchema('Service', serviceSpecSchema, serviceStatusSchema);
export const instanceSchema = kindSchema('Instance', instanceSpecSchema, instanceStatusSchema);
export const eventSchema = kindSchema('Event', eventSpecSchema, noStatus);
export const siteLinkSchema = kindSchema('SiteLink', siteLinkSpecSchema, siteLinkStatusSchema);
export const priorityClassSchema = kindSchema('PriorityClass', priorityClassSpecSchema, noStatus);
export const deviceSchema = kindSchema('Device', deviceSpecSchema, deviceStatusSchema);
export const deviceCredentialSchema = kindSchema('DeviceCredential', deviceCredentialSpecSchema, noStatus);
export const routeSchema = kindSchema('Route', routeSpecSchema, routeStatusSchema);
export const deviceCommandSchema = kindSchema('DeviceCommand', deviceCommandSpecSchema, deviceCommandStatusSchema);
export const ruleSchema = kindSchema('Rule', ruleSpecSchema, ruleStatusSchema);
export const modelSchema = kindSchema('Model', modelSpecSchema, noStatus);

export type Project = z.infer<typeof projectSchema>;
export type Site = z.infer<typeof siteSchema>;
export type Node = z.infer<typeof nodeSchema>;
export type Service = z.infer<typeof serviceSchema>;
export type Instance = z.infer<typeof instanceSchema>;
export type GedgeEvent = z.infer<typeof eventSchema>;
export type SiteLink = z.infer<typeof siteLinkSchema>;
export type SiteLinkStatus = z.infer<typeof siteLinkStatusSchema>;
export type PriorityClass = z.infer<typeof priorityClassSchema>;
export type Device = z.infer<typeof deviceSchema>;
export type DeviceStatus = z.infer<typeof deviceStatusSchema>;
export type DeviceCredential = z.infer<typeof deviceCredentialSchema>;
export type Route = z.infer<typeof routeSchema>;
export type DeviceCommand = z.infer<typeof deviceCommandSchema>;
export type DeviceCommandStatus = z.infer<typeof deviceCommandStatusSchema>;
export type Rule = z.infer<typeof ruleSchema>;
export type Model = z.infer<typeof modelSchema>;
export type NodeStatus = z.infer<typeof nodeStatusSchema>;
export type InstanceStatus = z.infer<typeof instanceStatusSchema>;
export type ServiceStatus = z.infer<typeof serviceStatusSchema>;

export interface KindInfo {
  kind: string;
  plural: string;
  /** Project-scoped kinds live in a project ('default' when omitted); the rest are cluster-wide. */
  namespaced: boolean;
  schema: z.ZodTypeAny;
  shortNames: string[];
}

export const KINDS = {
  Project: { kind: 'Project', plural: 'projects', namespaced: false, schema: projectSchema, shortNames: ['project', 'proj'] },
  Site: { kind: 'Site', plural: 'sites', namespaced: false, schema: siteSchema, shortNames: ['site'] },
  Node: { kind: 'Node', plural: 'nodes', namespaced: false, schema: nodeSchema, shortNames: ['node', 'no'] },
  Service: { kind: 'Service', plural: 'services', namespaced: true, schema: serviceSchema, shortNames: ['service', 'svc'] },
  Instance: { kind: 'Instance', plural: 'instances', namespaced: true, schema: instanceSchema, shortNames: ['instance', 'inst'] },
  Event: { kind: 'Event', plural: 'events', namespaced: false, schema: eventSchema, shortNames: ['event', 'ev'] },
  SiteLink: { kind: 'SiteLink', plural: 'sitelinks', namespaced: false, schema: siteLinkSchema, shortNames: ['sitelink'] },
  PriorityClass: { kind: 'PriorityClass', plural: 'priorityclasses', namespaced: false, schema: priorityClassSchema, shortNames: ['priorityclass', 'pc'] },
  Device: { kind: 'Device', plural: 'devices', namespaced: true, schema: deviceSchema, shortNames: ['device', 'dev'] },
  DeviceCredential: { kind: 'DeviceCredential', plural: 'devicecredentials', namespaced: true, schema: deviceCredentialSchema, shortNames: ['devicecredential', 'cred'] },
  Route: { kind: 'Route', plural: 'routes', namespaced: true, schema: routeSchema, shortNames: ['route'] },
  DeviceCommand: { kind: 'DeviceCommand', plural: 'devicecommands', namespaced: true, schema: deviceCommandSchema, shortNames: ['devicecommand', 'command', 'cmd'] },
  Rule: { kind: 'Rule', plural: 'rules', namespaced: true, schema: ruleSchema, shortNames: ['rule'] },
  Model: { kind: 'Model', plural: 'models', namespaced: true, schema: modelSchema, shortNames: ['model', 'mdl'] },
} as const satisfies Record<string, KindInfo>;

export type KindName = keyof typeof KINDS;
/** The object type of a kind: KindOf<'Instance'> is Instance. */
export type KindOf<K extends KindName> = Extract<Resource, { kind: K }>;
export type ResourceOf<K extends KindName> = z.infer<(typeof KINDS)[K]['schema']>;
export type Resource = Project | Site | Node | Service | Instance | GedgeEvent | SiteLink | PriorityClass | Device | DeviceCredential | Route | DeviceCommand | Rule | Model;
/**
 * Any kind's object as a reader that uses only some of its fields sees it:
 * the dashboard's pages narrow spec and status to what they show. KindOf<K>
 * is a kind's exact type; every Resource is an ApiObject.
 */
export interface ApiObject<Spec = Record<string, unknown>, Status = Record<string, unknown>> {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  spec: Spec;
  status?: Status;
}
/**
 * The kinds an agent receives: what runs on its node; its site's devices,
 * credentials and commands; the routes and rules (it keeps those that target
 * it); and its own Node and Site (labels and tier, for rule targets).
 */
export type EdgeObject = Instance | Device | DeviceCredential | Route | DeviceCommand | Rule | Node | Site;

export const DEFAULT_PROJECT = 'default';

/** The project a namespaced object belongs to: DEFAULT_PROJECT when its metadata names none. */
export const projectOf = (o: { metadata: { project?: string } }): string => o.metadata.project ?? DEFAULT_PROJECT;

/** `project/name`: how a namespaced object is known across the system (caches, the scheduler, the rule host, controllers' keys). */
export const projectKey = (o: { metadata: { project?: string; name: string } }): string => nameKey(projectOf(o), o.metadata.name);
/** `project/name` from its parts (an object's is projectKey): also a device's `project/device` and a service's by its instances' label. */
export const nameKey = (project: string | undefined, name: string): string => `${project ?? DEFAULT_PROJECT}/${name}`;
/** The parts of a `project/name` key (names have no '/'). */
export function splitNameKey(key: string): [project: string, name: string] {
  const at = key.indexOf('/');
  return [key.slice(0, at), key.slice(at + 1)];
}
/** On instances: the service that owns them. */
export const SERVICE_LABEL = 'gedge.io/service';
/** On instances: being moved by the rescheduler (value: why); a replacement is made before it goes. */
export const RETIRING_LABEL = 'gedge.io/retiring';

/** Resolves 'svc', 'services', 'Service' and the like to a kind; undefined when unknown. */
export function lookupKind(nameOrAlias: string): KindInfo | undefined {
  const needle = nameOrAlias.toLowerCase();
  return Object.values(KINDS).find(
    (k) => k.kind.toLowerCase() === needle || k.plural === needle || (k.shortNames as readonly string[]).includes(needle),
  );
}

/** The store key of an object: kind, project ('' for cluster-wide kinds) and name. */
export function keyOf(kind: string, project: string | undefined, name: string): string {
  return `${kind}/${project ?? ''}/${name}`;
}
