#!/usr/bin/env node
// Every installed dependency must carry a licence compatible with Apache-2.0.
import { readFileSync } from 'node:fs';

const ALLOWED = new Set(['MIT', 'ISC', 'Apache-2.0', 'BSD-2-Clause', 'BSD-3-Clause', '0BSD', 'BlueOak-1.0.0', 'CC0-1.0', 'CC-BY-4.0', 'Python-2.0', 'Unlicense']);
const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8'));
// An SPDX "A OR B" expression is fine when any alternative is allowed.
const ok = (expr) => expr.replace(/[()]/g, '').split(/\s+OR\s+/).some((l) => ALLOWED.has(l.trim()));
const bad = Object.entries(lock.packages)
  .filter(([path, p]) => path && !ok(p.license ?? 'UNKNOWN'))
  .map(([path, p]) => `${path.replace(/^.*node_modules\//, '')}: ${p.license ?? 'no licence field'}`);
if (bad.length) {
  console.error(`Dependencies with licences not known to be Apache-2.0 compatible:\n  ${bad.join('\n  ')}`);
  process.exit(1);
}
console.log(`${Object.keys(lock.packages).length - 1} dependencies, all with Apache-2.0 compatible licences`);
