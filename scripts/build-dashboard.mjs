// Builds the web dashboard (dashboard/) with Vite into dashboard/dist, plus
// gzip and brotli copies of every asset that the center serves as they are.
// Rebuilds only when a dashboard source is newer than the build.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, existsSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = join(root, 'dashboard');
export const DASHBOARD_DIST = join(dir, 'dist');
const STAMP = join(DASHBOARD_DIST, 'index.html');

function newest(p, acc = 0) {
  const st = statSync(p);
  if (!st.isDirectory()) return Math.max(acc, st.mtimeMs);
  for (const name of readdirSync(p)) acc = newest(join(p, name), acc);
  return acc;
}

export function isDashboardFresh() {
  if (!existsSync(STAMP)) return false;
  const built = statSync(STAMP).mtimeMs;
  // core/duration.ts: the one module of core the dashboard bundles (durations as manifests write them).
  return [join(dir, 'src'), join(dir, 'index.html'), join(root, 'core', 'duration.ts'), join(root, 'core', 'api-core.ts'), join(root, 'core', 'errors.ts'), fileURLToPath(import.meta.url)].every((p) => newest(p) <= built);
}

/** The Vite configuration, inline (the build script is its only user). */
export function viteConfig(outDir) {
  return {
    configFile: false,
    root: dir,
    base: '/',
    logLevel: 'warn',
    esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
    build: { outDir, emptyOutDir: true, target: 'es2022', reportCompressedSize: false, chunkSizeWarningLimit: 600 },
  };
}

export async function ensureDashboardBuilt() {
  if (isDashboardFresh()) return DASHBOARD_DIST;
  // A person at a terminal is told why the first command takes a while; scripts and logs are not.
  if (process.stderr.isTTY) process.stderr.write('gedge: building the web dashboard (first run, or its sources changed)...\n');
  const tmp = join(dir, `dist.tmp-${process.pid}`);
  const started = new Date();
  const { build } = await import('vite');
  await build(viteConfig(tmp));
  for (const name of readdirSync(join(tmp, 'assets'))) {
    const p = join(tmp, 'assets', name);
    const data = readFileSync(p);
    writeFileSync(`${p}.gz`, gzipSync(data, { level: 9 }));
    writeFileSync(`${p}.br`, brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
  }
  if (isDashboardFresh()) {
    // Another process finished meanwhile; keep its build.
    rmSync(tmp, { recursive: true, force: true });
    return DASHBOARD_DIST;
  }
  const old = join(dir, `dist.old-${process.pid}`);
  mkdirSync(DASHBOARD_DIST, { recursive: true });
  renameSync(DASHBOARD_DIST, old);
  renameSync(tmp, DASHBOARD_DIST);
  rmSync(old, { recursive: true, force: true });
  // The build is as new as the sources it read: an edit made while it ran leaves it stale.
  utimesSync(STAMP, started, started);
  return DASHBOARD_DIST;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`built ${await ensureDashboardBuilt()}`);
}
