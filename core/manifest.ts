import type { Document, LineCounter } from 'yaml';
import { yaml } from './lazy-yaml.ts';
import { BadRequestError, ValidationError, type ErrorDetail } from './errors.ts';
import { issuesToDetails, valueAt } from './validate.ts';
import { lookupKind, type Resource } from './resources.ts';

/**
 * Manifests: YAML (one or many `---` documents) or JSON (an object, an array,
 * or a `{kind: List, items}`). Every problem is reported with the document
 * index, the field path and the line, and nothing is applied when any
 * document is wrong.
 */
export interface ParsedDoc {
  value: unknown;
  /** Maps a field path (as zod reports it) to a 1-based line, when the source was YAML. */
  lineOf: (path: (string | number)[]) => number | undefined;
  source: string;
}

/** More documents than any real manifest has; a body of bare `---` lines would otherwise cost seconds of parsing. */
export const MAX_DOCUMENTS = 1000;
/** Aliases one document may expand (a "billion laughs" body is refused, not expanded). */
const MAX_ALIASES = 50;

export function parseManifestText(text: string, source = 'manifest'): ParsedDoc[] {
  const trimmed = text.trim();
  if (!trimmed) throw new BadRequestError(`${source}: empty manifest`, { details: [{ path: source, message: 'no documents' }] });
  // Counted before parsing, in linear time: a separator starts a line [YAML 1.2, 9.2].
  const separators = text.match(/^(?:---|\.\.\.)(?=[ \t\r\n]|$)/gm)?.length ?? 0;
  if (separators > MAX_DOCUMENTS) {
    throw new BadRequestError(`${source}: too many documents`, { details: [{ path: source, message: `${separators} document markers; at most ${MAX_DOCUMENTS} documents per manifest` }] });
  }
  const { LineCounter: Counter, parseAllDocuments } = yaml();
  const lc = new Counter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false });
  const out: ParsedDoc[] = [];
  const errors: ErrorDetail[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    for (const e of doc.errors) {
      const line = lc.linePos(e.pos[0]).line;
      errors.push({ path: source, line, message: e.message.split('\n')[0]! });
    }
    if (doc.errors.length) continue;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (e) {
      // yaml throws a ReferenceError for an alias bomb (and for an alias to no anchor): the body's fault, a 400.
      errors.push({ path: source, message: `${(e as Error).message} (at most ${MAX_ALIASES} alias expansions)` });
      continue;
    }
    if (value === null || value === undefined) continue;
    const items = flatten(value);
    items.forEach((v, i) =>
      out.push({ value: v, source, lineOf: lineFinder(doc, lc, value === v ? [] : listPrefix(value, i)) }),
    );
  }
  if (errors.length) throw new BadRequestError(`${source}: malformed YAML/JSON`, { details: errors });
  if (!out.length) throw new BadRequestError(`${source}: empty manifest`, { details: [{ path: source, message: 'no documents' }] });
  return out;
}

function flatten(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (value && typeof value === 'object' && (value as { kind?: unknown }).kind === 'List') {
    const items = (value as { items?: unknown }).items;
    return Array.isArray(items) ? items : [];
  }
  return [value];
}

function listPrefix(value: unknown, i: number): (string | number)[] {
  return Array.isArray(value) ? [i] : ['items', i];
}

function lineFinder(doc: Document, lc: LineCounter, prefix: (string | number)[] = []) {
  return (path: (string | number)[]) => {
    // Walk up the path until a node exists (a missing field is reported at its parent).
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn([...prefix, ...path.slice(0, n)], true);
      if (yaml().isNode(node) && node.range) return lc.linePos(node.range[0]).line;
    }
    return undefined;
  };
}

/** A check beyond the schema, on an object the schema accepted: its problems, by field path. */
export type ResourceCheck = (r: Resource) => { path: (string | number)[]; message: string }[];

/**
 * Validates parsed documents against their kind's schema, then `check`.
 * Returns resources with defaults filled in, or throws one ValidationError
 * naming every problem (with its line, when the source was YAML).
 */
export function validateResources(docs: ParsedDoc[], check?: ResourceCheck): Resource[] {
  const details: ErrorDetail[] = [];
  const out: Resource[] = [];
  docs.forEach((doc, i) => {
    const where = docs.length > 1 ? `[${i}]` : '';
    const v = doc.value as { kind?: unknown; apiVersion?: unknown };
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
      details.push({ path: where || '(root)', message: 'expected an object with apiVersion, kind, metadata, spec', line: doc.lineOf([]) });
      return;
    }
    const info = typeof v.kind === 'string' ? lookupKind(v.kind) : undefined;
    if (!info || info.kind !== v.kind) {
      details.push({
        path: where ? `${where}.kind` : 'kind',
        message: typeof v.kind === 'string' ? `unknown kind "${v.kind}"` : 'kind is required',
        line: doc.lineOf(['kind']),
      });
      return;
    }
    const r = info.schema.safeParse(v);
    if (!r.success) {
      for (const issue of r.error.issues) {
        // zod reports unknown keys at their parent; each is reported at its own path and line.
        const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
        issuesToDetails([issue], where, (path) => valueAt(v, path)).forEach((d, j) => details.push({ ...d, line: doc.lineOf(paths[j] as (string | number)[]) }));
      }
      return;
    }
    const problems = check?.(r.data as Resource) ?? [];
    for (const p of problems) details.push({ path: [where, ...p.path.map(String)].filter(Boolean).join('.'), message: p.message, line: doc.lineOf(p.path) });
    if (!problems.length) out.push(r.data as Resource);
  });
  if (details.length) {
    const src = docs[0]?.source ?? 'manifest';
    throw new ValidationError(`${src}: ${details.length} problem(s) found; nothing was applied`, { details });
  }
  return out;
}

export function parseManifest(text: string, source?: string): Resource[] {
  return validateResources(parseManifestText(text, source));
}
