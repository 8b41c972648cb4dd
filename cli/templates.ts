import { JSONPath } from 'jsonpath-plus';
import { CliError } from './errors.ts';

/**
 * kubectl's `-o jsonpath=TEMPLATE` and `-o custom-columns=SPEC`, over the
 * objects `gedge get` prints (a list is `{kind: List, items}`, as kubectl's).
 *
 * A template is text with expressions in braces: `{.metadata.name}`,
 * `{.items[*].spec.node}`, `{.items[?(@.status.phase=="Running")].metadata.name}`;
 * `{range .items[*]}...{end}` repeats its body for each result, inside which
 * `{.x}` (or `{@.x}`) reads the current one; `{"\n"}` is a literal. Several
 * results print space-separated; strings as they are, anything else as JSON;
 * a path that finds nothing prints nothing (as kubectl get does). Expressions
 * are JSONPath, evaluated by jsonpath-plus in its safe mode (filters without
 * running code).
 */
export type Template = (data: unknown) => string;

type Node = { text: string } | { path: string } | { range: string; body: Node[] };

export function jsonpathTemplate(template: string): Template {
  const nodes = parse(template);
  return (data) => evaluate(nodes, data);
}

/** `HEADER:EXPR,...`: one column per pair, EXPR a JSONPath (braces optional) read from each object. */
export interface CustomColumn {
  header: string;
  value(o: unknown): string;
}

export function customColumns(spec: string): CustomColumn[] {
  return spec.split(',').map((part, i) => {
    const at = part.indexOf(':');
    const header = part.slice(0, at).trim();
    let expr = part.slice(at + 1).trim();
    if (at <= 0 || !expr) throw new CliError(`--output custom-columns: column ${i + 1} ("${part}") is not HEADER:EXPRESSION, e.g. NAME:.metadata.name`);
    if (expr.startsWith('{') && expr.endsWith('}')) expr = expr.slice(1, -1);
    const path = jsonPath(expr, `column ${header}`);
    return {
      header,
      value: (o: unknown) => {
        const found = query(path, o);
        return found.length ? found.map(show).join(',') : '<none>';
      },
    };
  });
}

function parse(template: string): Node[] {
  const root: Node[] = [];
  const open: { nodes: Node[]; at: number }[] = [{ nodes: root, at: 0 }];
  let i = 0;
  while (i < template.length) {
    const start = template.indexOf('{', i);
    const here = open.at(-1)!.nodes;
    if (start < 0) {
      here.push({ text: template.slice(i) });
      break;
    }
    if (start > i) here.push({ text: template.slice(i, start) });
    const end = closing(template, start);
    const inner = template.slice(start + 1, end).trim();
    if (inner === 'end') {
      if (open.length === 1) throw new CliError(`--output jsonpath: {end} at character ${start + 1} closes no {range}`);
      open.pop();
    } else if (inner.startsWith('range ')) {
      const node: Node = { range: jsonPath(inner.slice(6).trim(), `{range} at character ${start + 1}`), body: [] };
      here.push(node);
      open.push({ nodes: node.body, at: start });
    } else if (/^(".*"|'.*')$/s.test(inner)) {
      here.push({ text: unquote(inner) });
    } else {
      here.push({ path: jsonPath(inner, `the expression at character ${start + 1}`) });
    }
    i = end + 1;
  }
  if (open.length > 1) throw new CliError(`--output jsonpath: the {range} at character ${open.at(-1)!.at + 1} has no {end}`);
  return root;
}

/** The index of the brace closing the one at `start`, past quoted strings (a filter may compare with "}"). */
function closing(template: string, start: number): number {
  let quote: string | undefined;
  for (let i = start + 1; i < template.length; i++) {
    const c = template[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '}') return i;
  }
  throw new CliError(`--output jsonpath: the "{" at character ${start + 1} is never closed`);
}

function unquote(s: string): string {
  return s.slice(1, -1).replace(/\\(.)/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r' })[c] ?? c);
}

/** kubectl's `.a.b` (relative to the current object) as JSONPath's `$.a.b`. */
function jsonPath(expr: string, where: string): string {
  const path = expr.startsWith('.') || expr.startsWith('[') ? `$${expr}` : expr.startsWith('@') ? `$${expr.slice(1)}` : expr;
  if (!path.startsWith('$')) throw new CliError(`--output: ${where}: "${expr}" is not a path (start it with ".", as in .metadata.name)`);
  return path;
}

function query(path: string, json: unknown): unknown[] {
  if (json === null || typeof json !== 'object') return [];
  try {
    return JSONPath({ path, json, wrap: true, eval: 'safe' }) as unknown[];
  } catch (e) {
    throw new CliError(`--output: the expression "${path.slice(1)}" cannot be evaluated: ${(e as Error).message}`);
  }
}

function evaluate(nodes: Node[], data: unknown): string {
  let out = '';
  for (const n of nodes) {
    if ('text' in n) out += n.text;
    else if ('path' in n) out += query(n.path, data).map(show).join(' ');
    else for (const item of query(n.range, data)) out += evaluate(n.body, item);
  }
  return out;
}

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
