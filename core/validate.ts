import type { z } from 'zod';
import { ValidationError, type ErrorDetail } from './errors.ts';

/** Turns zod issues into details that name every problem with its path. */
export function issuesToDetails(issues: z.core.$ZodIssue[], prefix = ''): ErrorDetail[] {
  return issues.map((i) => {
    const path = i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
    return { path: prefix && path ? `${prefix}.${path}` : prefix || path || '(root)', message: i.message };
  });
}

/** Parses `value` or throws a ValidationError listing every problem. */
export function parseOrThrow<S extends z.ZodTypeAny>(schema: S, value: unknown, what: string, prefix = ''): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(`${what} is invalid`, { details: issuesToDetails(r.error.issues, prefix) });
  return r.data;
}
