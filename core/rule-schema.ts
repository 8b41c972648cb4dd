import { z } from 'zod';
import { topicFilterSchema } from './device-schema.ts';
import { labelsSchema, nameSchema, tierSchema, durationSchema } from './schema-base.ts';
import { isValidTopic } from './topics.ts';

/**
 * Rules: streaming SQL that the agents run next to their edge brokers
 * (docs/rules.md). The schema checks the form; the center compiles the
 * SQL when the rule is applied (center/services/manifest-worker.ts), so a bad rule is
 * refused with the line and column of the problem and never reaches an
 * edge.
 */

/** `{{field}}` or `{{a.b}}` in an action's topic or payload: a field of the result row. */
export const TEMPLATE_FIELD = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}/g;

const topicTemplateSchema = z
  .string()
  .min(1)
  .max(512)
  .refine((t) => isValidTopic(t.replace(TEMPLATE_FIELD, 'x')), 'not a topic name: no wildcards ("+", "#"), not "$..."; {{field}} puts in a field of the result');

export const ruleActionSchema = z.union([
  z.object({ mqtt: z.object({ topic: topicTemplateSchema, qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(0), retain: z.boolean().default(false), payload: z.string().max(65536).optional() }).strict() }).strict(),
  z.object({ uplink: z.object({ route: nameSchema, topic: topicTemplateSchema.optional() }).strict() }).strict(),
  z
    .object({
      webhook: z
        .object({
          url: z.url({ protocol: /^https?$/, error: 'an http or https URL' }),
          method: z.enum(['POST', 'PUT']).default('POST'),
          headers: z.record(z.string(), z.string()).default({}),
          timeout: durationSchema({ min: '100ms', max: '1m' }).default('5s'),
        })
        .strict(),
    })
    .strict(),
  z.object({ log: z.object({ level: z.enum(['info', 'warn']).default('info') }).strict() }).strict(),
  z
    .object({
      /** Each row to a model served on the node, the row with the model's answer published (docs/models.md, "Rules"). */
      infer: z
        .object({
          /** A Service of the rule's project with runtime: model, ready on the node that runs the rule. */
          service: nameSchema,
          /** The row's field holding the input tensor's values (numbers, flat or nested; a.b for a nested field). */
          from: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'a field of the row: name or a.b'),
          /** The input's shape; default: the model's, its open dimensions from the number of values (the first as 1). */
          shape: z.array(z.number().int().min(1)).min(1).max(16).optional(),
          /** Where the row goes with its answer (`inference`: outputs, class, label, score). */
          topic: topicTemplateSchema,
          qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(0),
        })
        .strict(),
    })
    .strict(),
]);
export type RuleAction = z.infer<typeof ruleActionSchema>;

const tableNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a table name is an identifier (letters, digits, _)').refine((n) => n !== 'twins', '"twins" is the built-in table of device twins');
export const ruleTableSchema = z.union([
  z.object({ rows: z.array(z.record(z.string(), z.unknown())).max(100_000) }).strict(),
  z.object({ topic: topicFilterSchema, key: z.string().min(1) }).strict(),
]);

export const ruleTargetSchema = z
  .object({
    /** Sites whose nodes run the rule. */
    sites: z.array(nameSchema).min(1).optional(),
    /** Nodes that run the rule. */
    nodes: z.array(nameSchema).min(1).optional(),
    /** Tiers of the sites; `[edge]` when neither sites nor nodes are given. */
    tiers: z.array(tierSchema).min(1).optional(),
    /** Labels the node must have. */
    nodeSelector: labelsSchema.optional(),
    /** Labels the node's site must have. */
    siteSelector: labelsSchema.optional(),
  })
  .strict();
export type RuleTarget = z.infer<typeof ruleTargetSchema>;

export const ruleSpecSchema = z
  .object({
    sql: z.string().min(1).max(20_000),
    /** Where it runs (nodes with an edge broker among them); every node of an edge-tier site by default. */
    target: ruleTargetSchema.default({}),
    actions: z.array(ruleActionSchema).min(1).max(16),
    /** Lookup tables for JOIN, besides the built-in `twins`. */
    tables: z.record(tableNameSchema, ruleTableSchema).default({}),
    /** A failing action is retried with backoff; at most maxQueue result rows wait per action (the oldest go first). */
    retry: z
      .object({
        initialBackoff: durationSchema({ min: '10ms', max: '1h' }).default('100ms'),
        maxBackoff: durationSchema({ min: '100ms', max: '1d' }).default('30s'),
        maxQueue: z.number().int().min(1).max(1_000_000).default(10_000),
      })
      .strict()
      .default({ initialBackoff: '100ms', maxBackoff: '30s', maxQueue: 10_000 }),
    paused: z.boolean().default(false),
  })
  .strict();
export type RuleSpec = z.infer<typeof ruleSpecSchema>;

export const latencySummarySchema = z
  .object({ count: z.number(), sum: z.number(), max: z.number(), p50: z.number().nullable(), p99: z.number().nullable(), buckets: z.array(z.number()) })
  .strict();
const sampleSchema = z.object({ at: z.string(), reason: z.string(), topic: z.string(), sample: z.string() }).strict();

/** What one node reports of a rule it runs (counters since the agent started). */
export const ruleNodeStatusSchema = z
  .object({
    phase: z.enum(['Running', 'Paused', 'Failed']),
    message: z.string().optional(),
    reportedAt: z.string(),
    in: z.number().int().nonnegative(),
    out: z.number().int().nonnegative(),
    filtered: z.number().int().nonnegative(),
    dropped: z.number().int().nonnegative(),
    late: z.number().int().nonnegative(),
    sinkErrors: z.number().int().nonnegative(),
    /** Result rows waiting for a failing action. */
    pending: z.number().int().nonnegative(),
    groups: z.number().int().nonnegative(),
    latencyMs: latencySummarySchema,
    lastDropped: sampleSchema.optional(),
    lastSinkError: z.object({ at: z.string(), action: z.string(), message: z.string() }).strict().optional(),
  })
  .strict();
export type RuleNodeStatus = z.infer<typeof ruleNodeStatusSchema>;

export const ruleStatusSchema = z
  .object({
    /** By node. */
    nodes: z.record(z.string(), ruleNodeStatusSchema).default({}),
  })
  .strict();
export type RuleStatus = z.infer<typeof ruleStatusSchema>;
