import type { z } from 'zod';
import { ValidationError, type ErrorDetail } from './errors.ts';
import { renamedFieldHint } from './legacy-fields.ts';

/**
 * Turns zod issues into details that name every problem with its path; an
 * unknown field gets its own detail at its own path, and one that was renamed
 * says what to write instead (`valueAt` gives the value for the example).
 */
export function issuesToDetails(issues: z.core.$ZodIssue[], prefix = '', valueAt?: (path: PropertyKey[]) => unknown): ErrorDetail[] {
  const detail = (at: PropertyKey[], message: string): ErrorDetail => {
    const path = at.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
    return { path: prefix && path ? `${prefix}.${path}` : prefix || path || '(root)', message };
  };
  return issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => detail([...i.path, k], renamedFieldHint(k, valueAt?.([...i.path, k])) ?? `Unrecognized key: "${k}"`))
      : [detail(i.path, i.message)],
  );
}

/** The value at `path` inside `root`, or undefined. */
export function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let v = root;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

/** Parses `value` or throws a ValidationError listing every problem. */
export function parseOrThrow<S extends z.ZodTypeAny>(schema: S, value: unknown, what: string, prefix = ''): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(`${what} is invalid`, { details: issuesToDetails(r.error.issues, prefix, (path) => valueAt(value, path)) });
  return r.data;
}
