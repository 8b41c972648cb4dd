import { z } from 'zod';
import { labelsSchema, nameSchema, tierSchema } from './schema-base.ts';
import { geoPointSchema, placementSchema, schedulingExplanationSchema, taintSchema } from './placement-schema.ts';
import { edgeUplinkStatusSchema } from './uplink-wire.ts';
import { deviceCommandSpecSchema, deviceCommandStatusSchema, deviceCredentialSpecSchema, deviceSpecSchema, deviceStatusSchema, routeSpecSchema, routeStatusSchema } from './device-schema.ts';

export * from './schema-base.ts';
export * from './placement-schema.ts';
export * from './device-schema.ts';

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
    /** Store revision of the last write; send it back on apply to detect a stale write. */
    revision: z.number().int().nonnegative().optional(),
    /** Bumped on every spec change (not on status-only writes). */
    generation: z.number().int().nonnegative().optional(),
    createdAt: z.string().optional(),
    uid: z.string().optional(),
  })
  .strict();
export type Metadata = z.infer<typeof metadataSchema>;


const quantity = z.number().nonnegative();
export const resourcesSchema = z
  .object({
    /** CPU in cores (0.25 = a quarter core). */
    cpu: quantity.default(0),
    /** Memory in MiB. */
    memoryMiB: quantity.default(0),
    /** Disk in MiB. */
    diskMiB: quantity.default(0),
    accelerators: z.record(z.string(), z.number().int().nonnegative()).default({}),
  })
  .strict();
export type Resources = z.infer<typeof resourcesSchema>;

const conditionSchema = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  at: z.string(),
});
export type Condition = z.infer<typeof conditionSchema>;

// ---- Project -------------------------------------------------------------
export const projectSpecSchema = z.object({ description: z.string().max(1024).default('') }).strict();

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
      .object({ cpu: z.number(), memoryMiB: z.number(), diskMiB: z.number(), at: z.string() })
      .optional(),
    agent: z.object({ version: z.string(), os: z.string(), arch: z.string(), pid: z.number() }).optional(),
    /** Last store revision the agent acknowledged as applied. */
    syncedRevision: z.number().int().nonnegative().optional(),
    /** Where the node's edge MQTT broker listens for devices, when it runs one. */
    mqtt: z.object({ host: z.string(), tcp: z.number().int(), ws: z.number().int().optional() }).strict().optional(),
    /** The workload runtimes the node's agent offers; absent: process only. */
    runtimes: z.array(z.string()).optional(),
    /** The node's store-and-forward uplink queue, from its last heartbeat. */
    uplink: edgeUplinkStatusSchema.extend({ at: z.string() }).optional(),
    conditions: z.array(conditionSchema).default([]),
  })
  .strict();

// ---- Service (a workload) -------------------------------------------------
export const runtimeKindSchema = z.enum(['process', 'container']);
export const portSchema = z
  .object({
    name: nameSchema,
    port: z.number().int().min(0).max(65535).default(0),
    /** Container runtime: the port the container listens on (default: the same as the host port). */
    containerPort: z.number().int().min(1).max(65535).optional(),
  })
  .strict()
  .describe('A port the workload listens on; port 0 lets the agent allocate one, passed in env PORT_<NAME> (and PORT for the first). A container gets it mapped on 127.0.0.1.');
export const probeSchema = z
  .object({
    tcp: z.object({ port: z.union([nameSchema, z.number().int().min(1).max(65535)]) }).strict().optional(),
    http: z
      .object({ port: z.union([nameSchema, z.number().int().min(1).max(65535)]), path: z.string().startsWith('/').default('/') })
      .strict()
      .optional(),
    /** A command run inside the workload (its environment and working directory, or in its container); exit 0 passes. */
    exec: z.object({ command: z.array(z.string().min(1)).min(1) }).strict().optional(),
    /** Wait this long after a start before the first check. */
    initialDelayMs: z.number().int().min(0).max(600_000).default(0),
    periodMs: z.number().int().min(50).max(600_000).default(1000),
    timeoutMs: z.number().int().min(10).max(60_000).default(1000),
    /** Consecutive failures before the probe counts as failed (liveness: the instance is restarted). */
    failureThreshold: z.number().int().min(1).max(100).default(3),
  })
  .strict()
  .refine((p) => (p.tcp ? 1 : 0) + (p.http ? 1 : 0) + (p.exec ? 1 : 0) === 1, 'a probe needs exactly one of tcp, http or exec');
export type ProbeSpec = z.infer<typeof probeSchema>;
export const restartPolicySchema = z.enum(['Always', 'OnFailure', 'Never']);
export type RestartPolicy = z.infer<typeof restartPolicySchema>;
export const volumeSchema = z
  .object({
    name: nameSchema,
    /** Where the workload sees it: a path in the container, or (process runtime) env VOLUME_<NAME> holds the host directory. */
    mountPath: z.string().startsWith('/').optional(),
    readOnly: z.boolean().default(false),
  })
  .strict()
  .describe("A directory in the agent's data dir that outlives the instance's restarts (one per service and volume name).");

export const workloadTemplateSchema = z
  .object({
    runtime: runtimeKindSchema.default('process'),
    /** Container runtime: the image (a local name such as localhost/app:1, loaded or imported on the node, or from a configured registry). */
    image: z.string().min(1).max(512).optional(),
    /** Process runtime: the executable and its arguments. Container runtime: replaces the image's command (optional). */
    command: z.array(z.string().min(1)).default([]),
    cwd: z.string().optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'invalid environment variable name'), z.string()).default({}),
    ports: z.array(portSchema).default([]),
    volumes: z.array(volumeSchema).default([]),
    resources: resourcesSchema.default({ cpu: 0, memoryMiB: 0, diskMiB: 0, accelerators: {} }),
    restartPolicy: restartPolicySchema.default('Always'),
    readiness: probeSchema.optional(),
    /** Failing this (failureThreshold times in a row) restarts the instance, with back-off. */
    liveness: probeSchema.optional(),
    /** SIGTERM, then SIGKILL after this many ms. */
    stopGraceMs: z.number().int().min(0).max(600_000).default(5000),
  })
  .strict()
  .refine((t) => !(t !== undefined && t.runtime === 'process' && Array.isArray(t.command) && t.command.length === 0), {
    path: ['command'],
    message: 'the process runtime needs a command',
    // Reported even when other fields of the template are wrong too, so one apply shows every problem.
    when: () => true,
  })
  .superRefine((t, ctx) => {
    if (t.runtime === 'process' && t.image) ctx.addIssue({ code: 'custom', path: ['image'], message: 'image is for runtime: container' });
    if (t.runtime === 'container' && !t.image) ctx.addIssue({ code: 'custom', path: ['image'], message: 'the container runtime needs an image' });
    t.ports.forEach((p, i) => {
      if (p.containerPort !== undefined && t.runtime !== 'container') ctx.addIssue({ code: 'custom', path: ['ports', i, 'containerPort'], message: 'containerPort is for runtime: container' });
    });
    t.volumes.forEach((v, i) => {
      if (t.runtime === 'container' && !v.mountPath) ctx.addIssue({ code: 'custom', path: ['volumes', i, 'mountPath'], message: 'a container volume needs a mountPath' });
    });
    const names = new Set<string>();
    t.volumes.forEach((v, i) => {
      if (names.has(v.name)) ctx.addIssue({ code: 'custom', path: ['volumes', i, 'name'], message: `duplicate volume "${v.name}"` });
      names.add(v.name);
    });
  });
export type WorkloadTemplate = z.infer<typeof workloadTemplateSchema>;


export const rolloutSpecSchema = z
  .object({
    /** Stop between steps; nothing more is replaced until resumed. */
    paused: z.boolean().default(false),
    /** A new revision's instances must be ready within this long of their creation, or the rollout fails. */
    progressDeadlineMs: z.number().int().min(1000).max(3_600_000).default(120_000),
    /** A new revision's instance restarting this many times before it is ready fails the rollout (a crash loop). */
    maxRestarts: z.number().int().min(1).max(100).default(3),
    /** On failure, put the last good revision's template back (recorded as an event). Off: the rollout stops where it is. */
    autoRollback: z.boolean().default(true),
  })
  .strict();
export type RolloutSpec = z.infer<typeof rolloutSpecSchema>;

export const serviceSpecSchema = z
  .object({
    replicas: z.number().int().min(0).max(10_000).default(1),
    /** Voluntary disruptions (rebalancing, preemption, rollouts) never leave fewer than replicas - maxUnavailable ready. */
    maxUnavailable: z.number().int().min(0).max(10_000).default(1),
    /** A rollout may run this many instances above replicas while it replaces old ones. */
    maxSurge: z.number().int().min(0).max(10_000).default(1),
    template: workloadTemplateSchema,
    placement: placementSchema.default({}),
    rollout: rolloutSpecSchema.default({ paused: false, progressDeadlineMs: 120_000, maxRestarts: 3, autoRollback: true }),
  })
  .strict()
  .refine((s) => s.maxSurge > 0 || s.maxUnavailable > 0, { path: ['maxSurge'], message: 'maxSurge and maxUnavailable cannot both be 0 (a rollout could never progress)' });

export const revisionSchema = z
  .object({
    revision: z.number().int().min(1),
    hash: z.string(),
    template: workloadTemplateSchema,
    placement: placementSchema,
    createdAt: z.string(),
  })
  .strict();
export type Revision = z.infer<typeof revisionSchema>;
export const rolloutPhaseSchema = z.enum(['Progressing', 'Paused', 'Complete', 'Failed', 'RolledBack']);
export type RolloutPhase = z.infer<typeof rolloutPhaseSchema>;
export const rolloutStatusSchema = z
  .object({
    /** The revision being rolled out (or rolled out). */
    revision: z.number().int().min(1),
    phase: rolloutPhaseSchema,
    /** The last revision that was completely rolled out, the rollback target. */
    stableRevision: z.number().int().min(1).optional(),
    /** Sites in rollout order; the first not yet done is the one being updated. */
    sites: z.array(z.object({ site: z.string(), updated: z.number().int(), total: z.number().int(), done: z.boolean() }).strict()).default([]),
    updated: z.number().int().default(0),
    ready: z.number().int().default(0),
    message: z.string().default(''),
    startedAt: z.string(),
    finishedAt: z.string().optional(),
  })
  .strict();
export type RolloutStatus = z.infer<typeof rolloutStatusSchema>;

export const serviceStatusSchema = z
  .object({
    replicas: z.number().int().default(0),
    ready: z.number().int().default(0),
    conditions: z.array(conditionSchema).default([]),
    /** The newest revision (the current template), numbered from 1. */
    revision: z.number().int().optional(),
    /** The last revisions (at most 10), oldest first: the rollout history. */
    revisions: z.array(revisionSchema).default([]),
    rollout: rolloutStatusSchema.optional(),
  })
  .strict();

// ---- Instance (one replica bound to a node) --------------------------------

export const instancePhaseSchema = z.enum(['Pending', 'Starting', 'Running', 'Succeeded', 'Failed', 'Unknown']);
export type InstancePhase = z.infer<typeof instancePhaseSchema>;
export const instanceSpecSchema = z
  .object({
    service: nameSchema.optional(),
    /** Set once by placement; never changes afterwards (rescheduling makes a new instance). */
    node: nameSchema.optional(),
    template: workloadTemplateSchema,
    placement: placementSchema.default({}),
    /** Hash of the template this instance was made from; a changed service template replaces it. */
    templateHash: z.string().default(''),
    /** The service revision this instance was made from. */
    revision: z.number().int().min(1).optional(),
  })
  .strict();
export const instanceStatusSchema = z
  .object({
    phase: instancePhaseSchema.default('Pending'),
    ready: z.boolean().default(false),
    restarts: z.number().int().default(0),
    pid: z.number().int().optional(),
    exitCode: z.number().int().nullable().optional(),
    signal: z.string().nullable().optional(),
    startedAt: z.string().optional(),
    ports: z.record(z.string(), z.number().int()).default({}),
    message: z.string().optional(),
    conditions: z.array(conditionSchema).default([]),
    /** The scheduler's last decision for this instance, explained; kept by the center across agent reports. */
    scheduling: schedulingExplanationSchema.optional(),
  })
  .strict();

// ---- Link (measured round trip between two sites) --------------------------
export const linkSpecSchema = z
  .object({
    /** The two sites, in name order (the link is symmetric). */
    sites: z.tuple([nameSchema, nameSchema]).refine(([a, b]) => a < b, 'sites must be two different sites in name order'),
    /** A planned round trip, used until (and unless) one is measured. */
    declaredRttMs: z.number().nonnegative().max(600_000).optional(),
  })
  .strict();
export const linkStateSchema = z.enum(['Up', 'Stale', 'Down']);
export type LinkState = z.infer<typeof linkStateSchema>;
export const linkStatusSchema = z
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
export function linkName(a: string, b: string): string {
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
export const linkSchema = kindSchema('Link', linkSpecSchema, linkStatusSchema);
export const priorityClassSchema = kindSchema('PriorityClass', priorityClassSpecSchema, noStatus);
export const deviceSchema = kindSchema('Device', deviceSpecSchema, deviceStatusSchema);
export const deviceCredentialSchema = kindSchema('DeviceCredential', deviceCredentialSpecSchema, noStatus);
export const routeSchema = kindSchema('Route', routeSpecSchema, routeStatusSchema);
export const deviceCommandSchema = kindSchema('DeviceCommand', deviceCommandSpecSchema, deviceCommandStatusSchema);

export type Project = z.infer<typeof projectSchema>;
export type Site = z.infer<typeof siteSchema>;
export type Node = z.infer<typeof nodeSchema>;
export type Service = z.infer<typeof serviceSchema>;
export type Instance = z.infer<typeof instanceSchema>;
export type GedgeEvent = z.infer<typeof eventSchema>;
export type Link = z.infer<typeof linkSchema>;
export type LinkStatus = z.infer<typeof linkStatusSchema>;
export type PriorityClass = z.infer<typeof priorityClassSchema>;
export type Device = z.infer<typeof deviceSchema>;
export type DeviceStatus = z.infer<typeof deviceStatusSchema>;
export type DeviceCredential = z.infer<typeof deviceCredentialSchema>;
export type Route = z.infer<typeof routeSchema>;
export type DeviceCommand = z.infer<typeof deviceCommandSchema>;
export type DeviceCommandStatus = z.infer<typeof deviceCommandStatusSchema>;
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
  Link: { kind: 'Link', plural: 'links', namespaced: false, schema: linkSchema, shortNames: ['link'] },
  PriorityClass: { kind: 'PriorityClass', plural: 'priorityclasses', namespaced: false, schema: priorityClassSchema, shortNames: ['priorityclass', 'pc'] },
  Device: { kind: 'Device', plural: 'devices', namespaced: true, schema: deviceSchema, shortNames: ['device', 'dev'] },
  DeviceCredential: { kind: 'DeviceCredential', plural: 'devicecredentials', namespaced: true, schema: deviceCredentialSchema, shortNames: ['devicecredential', 'cred'] },
  Route: { kind: 'Route', plural: 'routes', namespaced: true, schema: routeSchema, shortNames: ['route'] },
  DeviceCommand: { kind: 'DeviceCommand', plural: 'devicecommands', namespaced: true, schema: deviceCommandSchema, shortNames: ['devicecommand', 'command', 'cmd'] },
} as const satisfies Record<string, KindInfo>;

export type KindName = keyof typeof KINDS;
export type ResourceOf<K extends KindName> = z.infer<(typeof KINDS)[K]['schema']>;
export type Resource = Project | Site | Node | Service | Instance | GedgeEvent | Link | PriorityClass | Device | DeviceCredential | Route | DeviceCommand;
/** The kinds an agent receives: what runs on its node, and its site's devices, credentials, routes and commands. */
export type EdgeObject = Instance | Device | DeviceCredential | Route | DeviceCommand;

export const DEFAULT_PROJECT = 'default';
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
