#!/usr/bin/env node
// Every installed dependency must carry a licence compatible with Apache-2.0.
import { existsSync, readFileSync } from 'node:fs';

const ALLOWED = new Set(['MIT', 'ISC', 'Apache-2.0', 'BSD-2-Clause', 'BSD-3-Clause', '0BSD', 'BlueOak-1.0.0', 'CC0-1.0', 'CC-BY-4.0', 'Python-2.0', 'Unlicense']);
// Development-only packages are never shipped with gedge: node-red (the
// engine benchmark's peer) brings npm (Artistic-2.0) and its licence list
// (CC-BY-3.0 data). Using them to run a benchmark is what those licences allow.
const DEV_ONLY = new Set(['Artistic-2.0', 'CC-BY-3.0']);
// Packages whose package.json names no licence, read by hand: their licence text is MIT.
const REVIEWED = { 'cli-table': 'MIT', pause: 'MIT' };
// Older package.json files spell licences differently.
const SPELLINGS = { 'Apache 2.0': 'Apache-2.0', 'Apache License, Version 2.0': 'Apache-2.0' };

const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8'));
const root = new URL('../', import.meta.url);

/** The lock's licence field, else the installed package.json's `license` or legacy `licenses` list. */
function licenceOf(path, p) {
  if (p.license) return typeof p.license === 'string' ? p.license : p.license.type;
  const name = path.replace(/^.*node_modules\//, '');
  if (REVIEWED[name]) return REVIEWED[name];
  const file = new URL(`${path}/package.json`, root);
  if (!existsSync(file)) return 'UNKNOWN';
  const pkg = JSON.parse(readFileSync(file, 'utf8'));
  const l = pkg.license ?? pkg.licenses;
  if (typeof l === 'string') return l;
  if (Array.isArray(l)) return l.map((x) => SPELLINGS[x.type] ?? x.type).join(' OR ');
  return l?.type ?? 'UNKNOWN';
}

// An SPDX "A OR B" expression is fine when any alternative is allowed; "A AND B" when both are.
const allowed = (l, dev) => ALLOWED.has(l.trim()) || (dev && DEV_ONLY.has(l.trim()));
const ok = (expr, dev) => expr.replace(/[()]/g, '').split(/\s+OR\s+/).some((alt) => alt.split(/\s+AND\s+/).every((l) => allowed(l, dev)));
const bad = Object.entries(lock.packages)
  .filter(([path, p]) => path && !ok(licenceOf(path, p), p.dev === true))
  .map(([path, p]) => `${path.replace(/^.*node_modules\//, '')}: ${licenceOf(path, p)}`);
if (bad.length) {
  console.error(`Dependencies with licences not known to be Apache-2.0 compatible:\n  ${bad.join('\n  ')}`);
  process.exit(1);
}
console.log(`${Object.keys(lock.packages).length - 1} dependencies, all with Apache-2.0 compatible licences`);
