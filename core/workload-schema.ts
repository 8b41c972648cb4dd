import { z } from 'zod';
import { nameSchema, resourcesSchema, conditionSchema, durationSchema } from './schema-base.ts';
import { digestSchema, evaluationStatusSchema, modelGateSchema } from './model-schema.ts';
import { placementSchema, schedulingExplanationSchema } from './placement-schema.ts';
import { continuitySpecSchema, endpointSpecSchema, ENDPOINT_PORTS_MAX, overflowSpecSchema } from './link-schema.ts';

/** Workloads: a Service's template, probes, volumes and rollout; the Instances it makes, one per replica. */

// ---- Service (a workload) -------------------------------------------------
export const runtimeKindSchema = z.enum(['process', 'container', 'model']);

/** A `runtime: model` template's model file, as the center resolved the template's `model` (users do not write it; applied back unchanged it stays). */
export const modelArtifactRefSchema = z
  .object({
    digest: digestSchema,
    size: z.number().int().positive(),
    model: nameSchema,
    version: z.number().int().min(1),
    /** The Model's class names (when it has at most 1,000), so answers at the edge can name the class. */
    classLabels: z.array(z.string()).max(1000).optional(),
  })
  .strict();
/** How a model instance serves: dynamic batching and ONNX Runtime's threads. */
export const inferenceSpecSchema = z
  .object({
    maxBatch: z.number().int().min(1).max(4096).default(16),
    /** How long a request waits for others to batch with (0: none; requests still stack while a run is going). */
    maxDelay: durationSchema({ min: '0s', max: '1s' }).default('0s'),
    /** ONNX Runtime's threads per operator (0: one per core). */
    threads: z.number().int().min(0).max(256).default(0),
  })
  .strict();
/**
 * Split inference with an early exit: the instance serves a head (an exit
 * classifier and a cut tensor); an input whose exit is sure enough is
 * answered at the edge, the others go, as the quantized cut, to a ready
 * instance of the tail Service through the center.
 */
export const splitSpecSchema = z
  .object({
    /** The Service (runtime: model, same project) serving the tail, where the cut goes. */
    tail: nameSchema,
    /** The head's output holding the exit's class probabilities [rows, classes]. */
    exitOutput: z.string().min(1).max(128).default('exit'),
    /** The head's output holding the cut tensor [rows, width]. */
    cutOutput: z.string().min(1).max(128).default('cut'),
    /** T: an input whose exit has a normalized entropy below it is answered at the edge. */
    threshold: z.number().min(0).max(1),
    /** Temperature applied to the exit's probabilities before their entropy (`gedge model train` fits it; 1: none). */
    temperature: z.number().min(0.01).max(100).default(1),
    /** What T is held to, above the threshold given: at most this share of inputs offloaded, this many uplink bytes a second, or this mean latency. */
    goal: z
      .union([
        z.object({ offloadShare: z.number().min(0).max(1) }).strict(),
        z.object({ uplinkBytesPerSecond: z.number().positive() }).strict(),
        z.object({ meanLatency: durationSchema({ min: '1ms', max: '1m' }) }).strict(),
      ])
      .optional(),
    /** The tail cannot be reached (the WAN is cut, no tail is ready): answer with the exit's guess (fallback), or hold the input until it can, up to timeout (wait). */
    whenUnreachable: z.enum(['fallback', 'wait']).default('fallback'),
    /** How long an offloaded input may take before it is answered for (fallback) or refused (wait). */
    timeout: durationSchema({ min: '10ms', max: '1m' }).default('2s'),
  })
  .strict();
export type SplitSpec = z.infer<typeof splitSpecSchema>;
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
    initialDelay: durationSchema({ min: '0s', max: '10m' }).default('0s'),
    period: durationSchema({ min: '50ms', max: '10m' }).default('1s'),
    timeout: durationSchema({ min: '10ms', max: '1m' }).default('1s'),
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
    /** Model runtime: the Model version it serves (`<model>-v<version>`, in the service's project). */
    model: nameSchema.optional(),
    /** Model runtime: set by the center from `model` (the file and what it is). */
    artifact: modelArtifactRefSchema.optional(),
    /** Model runtime: batching and threads. */
    inference: inferenceSpecSchema.optional(),
    /** Model runtime: the model is the head of a split network (see splitSpecSchema). */
    split: splitSpecSchema.optional(),
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
    /** SIGTERM, then SIGKILL after this long (as docker compose's stop_grace_period). */
    stopGracePeriod: durationSchema({ min: '0s', max: '10m' }).default('5s'),
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
    if (t.runtime === 'model') {
      if (!t.model) ctx.addIssue({ code: 'custom', path: ['model'], message: 'the model runtime needs a model: the name of a Model version (gedge get models), e.g. fashion-v2' });
      if (t.image || t.command.length) ctx.addIssue({ code: 'custom', path: [t.image ? 'image' : 'command'], message: 'the model runtime runs the model server: give model, not image or command' });
      if (!t.ports.length) ctx.addIssue({ code: 'custom', path: ['ports'], message: 'the model runtime needs a port for its inference API (the Open Inference Protocol over HTTP): ports: [{name: http}]' });
    } else {
      for (const f of ['model', 'artifact', 'inference', 'split'] as const) if (t[f] !== undefined) ctx.addIssue({ code: 'custom', path: [f], message: `${f} is for runtime: model` });
    }
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
    progressDeadline: durationSchema({ min: '1s', max: '1h' }).default('2m'),
    /** A new revision's instance restarting this many times before it is ready fails the rollout (a crash loop). */
    maxRestarts: z.number().int().min(1).max(100).default(3),
    /** On failure, put the last good revision's template back (recorded as an event). Off: the rollout stops where it is. */
    autoRollback: z.boolean().default(true),
    /** Model Services: a new model version's instances are measured against the current version before they serve (docs/models.md). */
    modelGate: modelGateSchema.optional(),
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
    rollout: rolloutSpecSchema.default({ paused: false, progressDeadline: '2m', maxRestarts: 3, autoRollback: true }),
    /** Expose the template's ports under the Service's name at every site (absent: not exposed). */
    endpoint: endpointSpecSchema.optional(),
    /** Per-client session state that follows moving clients from node to node (absent: none). */
    continuity: continuitySpecSchema.optional(),
    /** Requests the edge cannot answer within an SLA overflow to the region or cloud (absent: never, an instance elsewhere is only a failover). */
    overflow: overflowSpecSchema.optional(),
  })
  .strict()
  .refine((s) => s.maxSurge > 0 || s.maxUnavailable > 0, { path: ['maxSurge'], message: 'maxSurge and maxUnavailable cannot both be 0 (a rollout could never progress)' })
  .superRefine((s, ctx) => {
    if (s.continuity && !s.endpoint) ctx.addIssue({ code: 'custom', path: ['continuity'], message: 'continuity needs an endpoint (its clients reach the Service through it): add endpoint: {}' });
    if (s.overflow && !s.endpoint) ctx.addIssue({ code: 'custom', path: ['overflow'], message: 'overflow needs an endpoint (requests overflow through it): add endpoint: {}' });
    if (!s.endpoint) return;
    const names = new Set(s.template.ports.map((p) => p.name));
    if (!names.size) ctx.addIssue({ code: 'custom', path: ['endpoint'], message: 'an endpoint carries the template\'s ports, and the template has none: add ports: [{name: http}]' });
    s.endpoint.ports?.forEach((n, i) => {
      if (!names.has(n)) ctx.addIssue({ code: 'custom', path: ['endpoint', 'ports', i], message: `"${n}" is not one of the template's ports (${[...names].join(', ') || 'none'})` });
      if (s.endpoint!.ports!.indexOf(n) !== i) ctx.addIssue({ code: 'custom', path: ['endpoint', 'ports', i], message: `"${n}" is named twice` });
    });
    if (!s.endpoint.ports && names.size > ENDPOINT_PORTS_MAX) ctx.addIssue({ code: 'custom', path: ['endpoint', 'ports'], message: `an endpoint carries at most ${ENDPOINT_PORTS_MAX} ports and the template has ${names.size}: name the ones it carries` });
  });


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
    /** The Service's continuity, when it declares one: the agent offers the instance the session-state API. */
    continuity: continuitySpecSchema.optional(),
    /** Set by the center on a gated rollout's new model instances: what to measure the model against, and the gate. */
    evaluation: z
      .object({
        baseline: modelArtifactRefSchema,
        /** The new version's labelled evaluation set, when it ships one. */
        evalSet: z.object({ digest: digestSchema, size: z.number().int().positive() }).strict().optional(),
        gate: modelGateSchema,
      })
      .strict()
      .optional(),
  })
  .strict();
/** A model instance's serving figures over the agent's last sampling window (its model server's /metrics). */
export const inferenceStatusSchema = z
  .object({
    /** When the window ended. */
    at: z.string(),
    /** Since the model server started: requests answered, and those refused or failed. */
    requests: z.number().int().nonnegative(),
    errors: z.number().int().nonnegative(),
    requestsPerSecond: z.number().nonnegative(),
    /** Rows inferred a second (a request of batch 8 is 8 rows). */
    rowsPerSecond: z.number().nonnegative(),
    /** Request latency over the window, from the histogram's buckets; null with no request in it. */
    p50Ms: z.number().nonnegative().nullable(),
    p99Ms: z.number().nonnegative().nullable(),
    /** A split head's figures on its node since the agent started: rows answered, at the edge, by the tail, by the exit because the tail was unreachable; cut bytes sent; the T now. */
    split: z
      .object({
        rows: z.number().int().nonnegative(),
        local: z.number().int().nonnegative(),
        offloaded: z.number().int().nonnegative(),
        fallbacks: z.number().int().nonnegative(),
        bytesUp: z.number().int().nonnegative(),
        threshold: z.number().min(0).max(1),
      })
      .strict()
      .optional(),
  })
  .strict();
export type InferenceStatus = z.infer<typeof inferenceStatusSchema>;

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
    /** Model instances: how they serve (sampled by the agent every few seconds). */
    inference: inferenceStatusSchema.optional(),
    /** A gated rollout's new model instance: how it fared against the version it replaces. */
    evaluation: evaluationStatusSchema.optional(),
  })
  .strict();
