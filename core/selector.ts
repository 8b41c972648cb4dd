import { BadRequestError } from './errors.ts';

/**
 * Label selectors in the kubectl syntax: `a=b,c!=d,e,!f,g in (x,y),h notin (z)`.
 */
export type Requirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'notexists' };
export type Selector = Requirement[];

const KEY = /^([a-z0-9.-]+\/)?[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?)?$/;

export function parseSelector(text: string): Selector {
  const src = text.trim();
  if (!src) return [];
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of src) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((raw) => parseRequirement(raw.trim(), text));
}

function parseRequirement(p: string, whole: string): Requirement {
  const fail = (why: string): never => {
    throw new BadRequestError(`invalid label selector "${whole}": ${why}`, { details: [{ path: 'labelSelector', message: why }] });
  };
  const checkKey = (k: string) => (KEY.test(k) ? k : fail(`invalid key "${k}"`));
  const checkValue = (v: string) => (VALUE.test(v) ? v : fail(`invalid value "${v}"`));
  const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p);
  if (set) {
    const values = set[3]!.split(',').map((v) => checkValue(v.trim()));
    return { key: checkKey(set[1]!), op: set[2] as 'in' | 'notin', values };
  }
  const neq = /^([^!=\s]+)\s*!=\s*(\S*)$/.exec(p);
  if (neq) return { key: checkKey(neq[1]!), op: 'neq', value: checkValue(neq[2]!) };
  const eq = /^([^!=\s]+)\s*==?\s*(\S*)$/.exec(p);
  if (eq) return { key: checkKey(eq[1]!), op: 'eq', value: checkValue(eq[2]!) };
  if (p.startsWith('!')) return { key: checkKey(p.slice(1).trim()), op: 'notexists' };
  if (p) return { key: checkKey(p), op: 'exists' };
  return fail('empty requirement');
}

export function matchesSelector(sel: Selector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return sel.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case 'eq':
        return has && l[r.key] === r.value;
      case 'neq':
        return !has || l[r.key] !== r.value;
      case 'in':
        return has && r.values.includes(l[r.key]!);
      case 'notin':
        return !has || !r.values.includes(l[r.key]!);
      case 'exists':
        return has;
      case 'notexists':
        return !has;
    }
  });
}

export function formatSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
