// `npm run bench -- NAME`: runs bench/NAME.ts, writes bench/results/NAME.json and prints a table.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatTable, writeResults, type Metric, type SuiteResult } from './results.ts';

interface Suite {
  run(): Promise<Metric[]>;
}

const name = process.argv[2];
if (!name || !/^[a-z0-9][a-z0-9-]*$/.test(name) || name === 'run' || name === 'results') {
  console.error('usage: npm run bench -- NAME   (runs bench/NAME.ts, e.g. spine)');
  process.exit(2);
}
const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
if (!existsSync(file)) {
  console.error(`no benchmark "${name}": ${file} does not exist`);
  process.exit(2);
}

const suite = (await import(`./${name}.ts`)) as Partial<Suite>;
if (typeof suite.run !== 'function') {
  console.error(`bench/${name}.ts does not export run(): Promise<Metric[]>`);
  process.exit(2);
}
const at = new Date().toISOString();
const metrics = await suite.run();
const result: SuiteResult = { suite: name, at, metrics };
const out = fileURLToPath(new URL(`./results/${name}.json`, import.meta.url));
writeResults(out, result);
console.log(`\n${formatTable(result)}\n\nwritten to ${out}`);
