import { z } from 'zod';
import { DURATION_HELP, DURATION_PATTERN, durationMs, formatDuration, parseDuration } from './duration.ts';

/** Names, labels, tiers and durations: the primitives every schema shares. */

/** DNS-1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric. */
export const nameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'must be a lowercase DNS label (a-z, 0-9, "-")');

export const labelKey = z
  .string()
  .min(1)
  .max(253)
  .regex(/^([a-z0-9.-]+\/)?[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/, 'invalid label key');
export const labelValue = z.string().max(63).regex(/^([A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?)?$/, 'invalid label value');
export const labelsSchema = z.record(labelKey, labelValue);

/** Annotations: free text for tools and people, never selected on (Kubernetes' limit: 256 KiB in all). */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;
const utf8 = new TextEncoder();
export const annotationsSchema = z
  .record(labelKey, z.string())
  .refine((a) => Object.entries(a).reduce((n, [k, v]) => n + utf8.encode(k).length + utf8.encode(v).length, 0) <= MAX_ANNOTATIONS_BYTES, `at most ${MAX_ANNOTATIONS_BYTES} bytes of keys and values in all`);

export const tierSchema = z.enum(['cloud', 'region', 'edge']);
export type Tier = z.infer<typeof tierSchema>;

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

export const conditionSchema = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  at: z.string(),
});
export type Condition = z.infer<typeof conditionSchema>;

/**
 * A duration field of a manifest or request, kept as written (`90s`, so what
 * `get -o yaml` shows applies again) and read with durationMs. Every manifest
 * field that says how long is one of these; a bare number is refused with
 * the unit it lacks, not guessed.
 */
export function durationSchema(bounds: { min: string; max: string }) {
  const [min, max] = [durationMs(bounds.min), durationMs(bounds.max)];
  return z
    .string({ error: (issue) => (typeof issue.input === 'number' ? `a duration needs a unit: ${formatDuration(issue.input)} for ${issue.input} ms, say` : undefined) })
    .regex(DURATION_PATTERN, DURATION_HELP)
    .superRefine((text, ctx) => {
      const ms = parseDuration(text);
      if (ms !== undefined && ms < min) ctx.addIssue({ code: 'custom', message: `at least ${bounds.min}` });
      else if (ms !== undefined && ms > max) ctx.addIssue({ code: 'custom', message: `at most ${bounds.max}` });
    })
    .describe(`${DURATION_HELP}; ${bounds.min} to ${bounds.max}`);
}
