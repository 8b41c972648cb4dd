import { z } from 'zod';
import { labelKey, labelValue, labelsSchema, nameSchema, tierSchema, durationSchema } from './schema-base.ts';

/** Where workloads may and should run: the scheduler's input (placement, taints, tolerations) and its explained output. */

export const taintEffectSchema = z.enum(['NoSchedule', 'PreferNoSchedule']);
export const taintSchema = z
  .object({ key: labelKey, value: labelValue.default(''), effect: taintEffectSchema.default('NoSchedule') })
  .strict();
export type Taint = z.infer<typeof taintSchema>;

export const geoPointSchema = z.object({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) }).strict();
export type GeoPoint = z.infer<typeof geoPointSchema>;

export const schedulingPolicySchema = z.enum(['latency', 'spread', 'binpack', 'pinned']);
export type SchedulingPolicy = z.infer<typeof schedulingPolicySchema>;

/** Score weights; a policy sets defaults and these override them. */
export const scoreWeightsSchema = z
  .object({
    latency: z.number().min(0).max(100),
    leastAllocated: z.number().min(0).max(100),
    mostAllocated: z.number().min(0).max(100),
    spread: z.number().min(0).max(100),
    /** Edge over region over cloud (the tiered fallback), within whatever the filters allow. */
    tier: z.number().min(0).max(100),
    cost: z.number().min(0).max(100),
  })
  .partial()
  .strict();
export type ScoreWeights = z.infer<typeof scoreWeightsSchema>;

export const affinityTermSchema = z
  .object({
    /** Instances (in the same project) whose labels carry all of these. */
    selector: labelsSchema.refine((l) => Object.keys(l).length > 0, 'an affinity selector needs at least one label'),
    /** Together on one node, or anywhere in one site. */
    scope: z.enum(['node', 'site']).default('node'),
  })
  .strict();
export type AffinityTerm = z.infer<typeof affinityTermSchema>;

export const tolerationSchema = z
  .object({
    key: labelKey,
    /** Equal: the taint's value must match; Exists: any value. */
    operator: z.enum(['Equal', 'Exists']).default('Equal'),
    value: labelValue.default(''),
    /** Omitted: every effect. */
    effect: taintEffectSchema.optional(),
  })
  .strict();
export type Toleration = z.infer<typeof tolerationSchema>;

export const placementSchema = z
  .object({
    /** Default: latency when clients or maxLatency are given, else spread. */
    policy: schedulingPolicySchema.optional(),
    tiers: z.array(tierSchema).optional(),
    sites: z.array(nameSchema).optional(),
    /** Exact nodes allowed (with policy pinned, or as a constraint). */
    nodes: z.array(nameSchema).optional(),
    nodeSelector: labelsSchema.optional(),
    /**
     * Where the service's clients are: the sites they reach the platform
     * through, a point on the map, or devices (of the service's project) by
     * label: their sites. Several given: the SLA must hold for all.
     */
    clients: z
      .object({
        sites: z.array(nameSchema).min(1).optional(),
        location: geoPointSchema.optional(),
        devices: labelsSchema.refine((l) => Object.keys(l).length > 0, 'a device selector needs at least one label').optional(),
      })
      .strict()
      .refine((c) => c.sites || c.location || c.devices, 'clients needs sites, a location or devices')
      .optional(),
    /** SLA: estimated client-to-node round trip must not exceed this. */
    maxLatency: durationSchema({ min: '1ms', max: '1m' }).optional(),
    weights: scoreWeightsSchema.optional(),
    /** Required co-location with matching instances. */
    affinity: z.array(affinityTermSchema).optional(),
    /** Required separation from matching instances (a term matching the service itself spreads its replicas one per node or site). */
    antiAffinity: z.array(affinityTermSchema).optional(),
    tolerations: z.array(tolerationSchema).optional(),
    /** A PriorityClass name; higher priority may preempt lower where capacity is scarce. */
    priorityClass: nameSchema.optional(),
  })
  .strict()
  .refine((p) => p.policy !== 'pinned' || p.sites?.length || p.nodes?.length, { message: 'policy pinned needs sites or nodes', path: ['policy'] })
  .refine((p) => p.maxLatency === undefined || p.clients, { message: 'maxLatency needs clients (where the latency is measured from)', path: ['maxLatency'] });
export type Placement = z.infer<typeof placementSchema>;

const candidateVerdictSchema = z
  .object({
    node: z.string(),
    site: z.string(),
    /** 'fit', or why the node was filtered out. */
    verdict: z.string(),
    latencyMs: z.number().nullable().optional(),
    /** Each score plugin's 0-100 score, before weighting. */
    scores: z.record(z.string(), z.number()).optional(),
    total: z.number().optional(),
  })
  .strict();
export const schedulingExplanationSchema = z
  .object({
    at: z.string(),
    policy: schedulingPolicySchema,
    node: z.string().nullable(),
    /** E.g. '3/12 nodes fit', or '0/12 nodes: 5 insufficient cpu, 7 latency 42ms > SLA 10ms'. */
    summary: z.string(),
    /** A node where lower-priority instances were preempted to make room. */
    nominatedNode: z.string().optional(),
    /** The best fitting nodes by score, then one example of each rejection. */
    candidates: z.array(candidateVerdictSchema),
    /** Nodes evaluated but not listed. */
    omitted: z.number().int().nonnegative().default(0),
  })
  .strict();
export type SchedulingExplanation = z.infer<typeof schedulingExplanationSchema>;
