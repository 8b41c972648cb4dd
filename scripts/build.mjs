// Bundles the gedge command into dist/ with esbuild, split so that an agent
// never loads the center's code (and the reverse). Plain node then runs it:
// no TypeScript loader in the long-running processes (tsx alone costs ~70 MB RSS).
// Rebuilds only when a source file is newer than the bundle.
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ensureDashboardBuilt } from './build-dashboard.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = ['core', 'engine', 'scheduler', 'broker', 'inference', 'training', 'center', 'agent', 'cli', 'sim'];
export const ENTRY = join(root, 'dist', 'gedge.mjs');

function newest(dir, acc = 0) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) acc = newest(p, acc);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) acc = Math.max(acc, st.mtimeMs);
  }
  return acc;
}

export function isFresh() {
  if (!existsSync(ENTRY)) return false;
  const built = statSync(ENTRY).mtimeMs;
  return SOURCES.every((d) => newest(join(root, d)) <= built) && statSync(fileURLToPath(import.meta.url)).mtimeMs <= built;
}

/**
 * Builds into a private directory and renames it into place, so concurrent
 * starts never see half a bundle. The web dashboard the center serves is
 * built alongside (scripts/build-dashboard.mjs).
 */
export async function ensureBuilt() {
  await ensureDashboardBuilt();
  if (isFresh()) return ENTRY;
  if (process.stderr.isTTY) process.stderr.write('gedge: bundling the command into dist/ (first run, or its sources changed)...\n');
  const tmp = join(root, `dist.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  await build({
    // The center parses request bodies on a thread of its own (center/services/manifest-parser.ts).
    entryPoints: { gedge: join(root, 'cli', 'main.ts'), 'manifest-worker': join(root, 'center', 'services', 'manifest-worker.ts') },
    outdir: tmp,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'error',
  });
  if (isFresh()) {
    // Another process finished a build meanwhile; keep its bundle (processes may be loading chunks from it).
    rmSync(tmp, { recursive: true, force: true });
    return ENTRY;
  }
  mkdirSync(join(root, 'dist'), { recursive: true });
  const old = join(root, `dist.old-${process.pid}`);
  renameSync(join(root, 'dist'), old);
  renameSync(tmp, join(root, 'dist'));
  rmSync(old, { recursive: true, force: true });
  return ENTRY;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`built ${await ensureBuilt()}`);
}
