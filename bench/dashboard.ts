import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GedgeEvent, Instance, SiteLink, Node, Resource, Site, Tier } from '../core/index.ts';
import { siteLinkName, lookupKind } from '../core/index.ts';
import { openSqliteStore } from '../center/store/sqlite-store.ts';
import { REPO_ROOT, startCenterProcess } from '../testkit/index.ts';
import { launchBrowser } from '../testkit/browser.ts';
import { ensureDashboardBuilt } from '../scripts/build-dashboard.mjs';
import { metric, type Metric } from './results.ts';
import { rng } from './scheduler-cluster.ts';
import { median } from './stats.ts';

/**
 * The dashboard at fleet scale: a center whose store holds 1,000 Ready nodes
 * on 100 sites and 10,000 Running instances, and headless Chromium opening
 * Overview and Topology cold (a fresh browser context each time: no cache,
 * signed in through the saved token). The figure is the time from navigation
 * start to the first frame painted with the page's data (the page marks it,
 * `gedge:<page>`), median of several runs. No peer: none of the compared
 * platforms ships a dashboard that runs here.
 */
const NODES = 1000;
const SITES = 100;
const INSTANCES = 10_000;
const RUNS = 7;

export async function run(): Promise<Metric[]> {
  await ensureDashboardBuilt();
  const dataDir = mkdtempSync(join(tmpdir(), 'gedge-bench-dashboard-'));
  await seed(join(dataDir, 'center.db'));
  // Nobody heartbeats for these nodes: keep them Ready and their instances in place while measuring.
  const center = await startCenterProcess({ dataDir, notReadyAfterMs: 3_600_000, evictAfterMs: 3_600_000 });
  const browser = await launchBrowser();
  try {
    const times: Record<'overview' | 'topology', number[]> = { overview: [], topology: [] };
    for (let i = 0; i < RUNS + 1; i++) {
      for (const page of ['overview', 'topology'] as const) {
        const ms = await paintTime(browser, center.localUrl, center.adminToken, page);
        if (i > 0) times[page].push(ms); // the first round warms the center's caches and the OS page cache
      }
    }
    const bundle = bundleSize();
    console.log(`overview runs: ${times.overview.map(Math.round).join(', ')} ms; topology runs: ${times.topology.map(Math.round).join(', ')} ms`);
    return [
      metric(`Overview first meaningful paint, ${NODES} nodes / ${INSTANCES} instances (median of ${RUNS})`, 'ms', median(times.overview), '<= 1000 ms'),
      metric(`Topology first meaningful paint, ${SITES} sites / ${NODES} nodes (median of ${RUNS})`, 'ms', median(times.topology), '<= 1000 ms'),
      metric('initial bundle, gzipped (entry JS + CSS)', 'KB', bundle.initial / 1024, '<= 300 KB'),
      metric('all chunks, gzipped (with the lazily loaded YAML editor)', 'KB', bundle.all / 1024, 'report'),
    ];
  } finally {
    await browser.close();
    await center.process.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function paintTime(browser: Awaited<ReturnType<typeof launchBrowser>>, url: string, token: string, page: 'overview' | 'topology'): Promise<number> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    // Signed in as the dashboard is: the session cookie the center sets (HttpOnly, SameSite=Strict).
    await context.addCookies([{ name: 'gedge_session', value: token, url, httpOnly: true, sameSite: 'Strict' }]);
    const tab = await context.newPage();
    await tab.goto(`${url}/#/${page}`);
    const handle = await tab.waitForFunction((mark: string) => performance.getEntriesByName(mark)[0]?.startTime, `gedge:${page}`, { timeout: 30_000, polling: 50 });
    return (await handle.jsonValue()) as number;
  } finally {
    await context.close();
  }
}

/** Gzipped bytes of what index.html loads (entry script, its preloads, styles) and of every chunk. */
function bundleSize(): { initial: number; all: number } {
  const dist = join(REPO_ROOT, 'dashboard', 'dist');
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const initial = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]!);
  const all = readdirSync(join(dist, 'assets'))
    .filter((f) => /\.(js|css)$/.test(f))
    .map((f) => `assets/${f}`);
  const gz = (files: string[]) => files.reduce((sum, f) => sum + statSync(join(dist, `${f}.gz`)).size, 0);
  return { initial: gz(initial), all: gz(all) };
}

/** A fleet around Seoul: a cloud, 9 regions, 90 edge sites of 10 nodes each; services of 100 replicas spread over them. */
async function seed(file: string): Promise<void> {
  const store = await openSqliteStore(file);
  const rand = rng(11);
  const now = new Date().toISOString();
  const sites: Site[] = [];
  for (let i = 0; i < SITES; i++) {
    const tier: Tier = i === 0 ? 'cloud' : i < 10 ? 'region' : 'edge';
    const parent = tier === 'cloud' ? undefined : tier === 'region' ? 'site-0' : `site-${1 + (i % 9)}`;
    sites.push({
      apiVersion: 'gedge.io/v1',
      kind: 'Site',
      metadata: { name: `site-${i}`, labels: {} },
      spec: { tier, parent, location: { lat: 37.3 + rand() * 0.5, lon: 126.7 + rand() * 0.6 }, description: '' },
    } as Site);
  }
  const nodes: Node[] = [];
  for (let i = 0; i < NODES; i++) {
    nodes.push({
      apiVersion: 'gedge.io/v1',
      kind: 'Node',
      metadata: { name: `node-${i}`, labels: {} },
      spec: { site: `site-${i % SITES}`, capacity: { cpu: 8, memoryMiB: 16384, diskMiB: 100_000, accelerators: {} }, unschedulable: false, taints: [] },
    } as Node);
  }
  const instances: Instance[] = [];
  for (let i = 0; i < INSTANCES; i++) {
    instances.push({
      apiVersion: 'gedge.io/v1',
      kind: 'Instance',
      metadata: { name: `svc-${i % 100}-${i}`, project: 'default', labels: { app: `svc-${i % 100}` } },
      spec: { node: `node-${(i * 7) % NODES}`, template: { command: ['node', '-e', 'setInterval(() => {}, 1000)'] } },
    } as unknown as Instance);
  }
  const links: SiteLink[] = sites.slice(1).map((s) => ({
    apiVersion: 'gedge.io/v1',
    kind: 'SiteLink',
    metadata: { name: siteLinkName(s.metadata.name, s.spec.parent!), labels: {} },
    spec: { sites: [s.metadata.name, s.spec.parent!].sort() as [string, string] },
  }));
  const events: GedgeEvent[] = Array.from({ length: 50 }, (_, i) => ({
    apiVersion: 'gedge.io/v1',
    kind: 'Event',
    metadata: { name: `ev-${i}`, labels: {} },
    spec: { involved: { kind: 'Node', name: `node-${i}` }, type: i % 5 === 0 ? 'Warning' : 'Normal', reason: i % 5 === 0 ? 'NodeNotReady' : 'NodeReady', message: 'seeded', source: 'bench', at: now },
  }));
  // Through the kinds' schemas, as the API would: defaults filled in.
  const all = [...sites, ...nodes, ...instances, ...links, ...events].map((o) => lookupKind(o.kind)!.schema.parse(o) as Resource);
  for (let i = 0; i < all.length; i += 1000) await store.apply(all.slice(i, i + 1000));
  for (const n of nodes) {
    await store.updateStatus('Node', undefined, n.metadata.name, {
      phase: 'Ready', since: now, lastHeartbeatAt: now, conditions: [], runtimes: ['process'],
      usage: { cpu: Math.round(rand() * 800) / 100, memoryMiB: Math.round(rand() * 16000), diskMiB: 1000, netRxBps: 1000, netTxBps: 1000, at: now },
      agent: { version: '0.1.0', os: 'linux', arch: 'x64', pid: 1 },
    });
  }
  for (const inst of instances) {
    await store.updateStatus('Instance', 'default', inst.metadata.name, { phase: 'Running', ready: true, restarts: 0, ports: {}, conditions: [], startedAt: now });
  }
  for (const l of links) {
    await store.updateStatus('SiteLink', undefined, l.metadata.name, { state: 'Up', rttMs: 2 + rand() * 30, jitterMs: 0.5, samples: 10, directions: 2, measuredAt: now });
  }
  await store.close();
}
