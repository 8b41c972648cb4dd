#!/usr/bin/env node
// `npm test`: type check, lint, dependency directions, then every *.test.ts
// (unit and end-to-end) with node's test runner. Stops at the first failing step.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const only = process.argv.slice(2);

function run(title, cmd, args) {
  process.stdout.write(`\n== ${title}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`\n${title} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

function findTests(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

if (!only.length) {
  run('type check', bin('tsc'), ['--noEmit', '-p', '.']);
  run('type check (dashboard)', bin('tsc'), ['--noEmit', '-p', 'dashboard']);
  run('lint', bin('eslint'), ['--max-warnings=0', '.']);
  run('licences', process.execPath, [join(root, 'scripts', 'check-licenses.mjs')]);
  run('dependency directions', bin('depcruise'), ['--config', '.dependency-cruiser.cjs', 'core', 'engine', 'scheduler', 'broker', 'inference', 'training', 'center', 'agent', 'cli', 'sim', 'testkit', 'bench']);
}
// The container runtime's tests need podman and runc: installed here when missing (a no-op when present; fails under CI=true if it cannot).
run('podman', 'sh', [join(root, 'scripts', 'ensure-podman.sh')]);
// The browser tests need Debian's chromium and a CJK font: installed here when missing (a no-op when present; fails under CI=true if it cannot).
run('chromium', 'sh', [join(root, 'scripts', 'ensure-chromium.sh')]);
// The metrics tests lint /metrics with Prometheus' promtool: unpacked from Debian's package when missing (same rules).
run('promtool', 'sh', [join(root, 'scripts', 'ensure-promtool.sh')]);
// The training test reads Fashion-MNIST: Debian's dataset-fashion-mnist, installed here when missing (same rules).
run('fashion-mnist', 'sh', [join(root, 'scripts', 'ensure-fashion-mnist.sh')]);
// Build the bundle once, so the processes the tests start do not race to build it.
run('build', process.execPath, [join(root, 'scripts', 'build.mjs')]);
const files = only.length ? only : ['core', 'engine', 'scheduler', 'broker', 'inference', 'training', 'center', 'agent', 'cli', 'sim', 'dashboard', 'testkit'].flatMap((d) => findTests(join(root, d))).sort();
// The scenario's test asserts control-loop latencies on a 2-core machine: it runs by itself, after the rest.
const alone = files.filter((f) => /(^|[\\/])sim[\\/]scenario[\\/].*\.test\.ts$/.test(f));
const shared = files.filter((f) => !alone.includes(f));
// End-to-end tests start several processes each; two files at a time suits a 2-core machine.
if (shared.length) run(`tests (${shared.length} files)`, process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=240000', ...shared]);
if (alone.length) run(`timing tests, one at a time (${alone.length} files)`, process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=240000', ...alone]);
