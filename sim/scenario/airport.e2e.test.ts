import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Instance, Model, Service } from '../../core/index.ts';
import { launchBrowser, resultsDir, startPlatform, unlabelledControls, waitFor } from '../../testkit/index.ts';
import { startCctvSim } from '../cctv/cctv-sim.ts';
import { AIRPORT_PROJECT, deployAirport, rollToExit2 } from './airport.ts';
import { Wan } from './wan.ts';

const MANIFESTS = fileURLToPath(new URL('../../examples/airport/', import.meta.url));
const MODELS = fileURLToPath(new URL('../../models/fashion-mnist/', import.meta.url));
const TERMINALS = ['terminal-1', 'terminal-2'];

interface Window {
  site: string;
  frames: number;
  correct: number;
  local: number;
  cloud: number;
  fallback: number;
  p50: number;
  p99: number;
}

/**
 * The smart-airport scenario, short: cameras at two terminals publish
 * Fashion-MNIST test frames to their edge; the split network's head
 * answers the easy ones there and sends the hard ones' cut across the WAN
 * to the tail in the cloud; the edges measure accuracy (the frames carry
 * their true class), local exits and latency; a gated rollout moves the
 * split point to exit 2 while frames keep coming; the dashboard's Airport
 * page shows it all (screenshot test-results/airport/30-airport.png).
 */
test('the airport scenario: frames answered at the edge or in the cloud, measured where they happen, a gated rollout under live traffic, the Airport page', async (t) => {
  const p = await startPlatform({
    heartbeatMs: 500,
    agents: [{ name: 'cloud-1', site: 'cloud', mqtt: true }, ...TERMINALS.map((site) => ({ name: `${site}-1`, site, mqtt: true, viaLink: true }))],
  });
  const wan = new Wan(p.center.port);
  let sim: Awaited<ReturnType<typeof startCctvSim>> | undefined;
  try {
    const api = p.center.api;
    for (const site of TERMINALS) p.setSiteDelay(site, wan.delayOf('edge'));
    const { edges } = await deployAirport(api, { manifestsDir: MANIFESTS, modelsDir: MODELS });
    assert.deepEqual(edges, TERMINALS);
    // A second deployment changes nothing: no file sent again, no version or service rewritten.
    const revisionOf = async () => [(await api.get<Service>('Service', 'cctv', AIRPORT_PROJECT)).metadata.revision, ...(await api.list<Model>('Model', { project: AIRPORT_PROJECT })).items.map((m) => m.metadata.revision)];
    const before = await revisionOf();
    await deployAirport(api, { manifestsDir: MANIFESTS, modelsDir: MODELS });
    assert.deepEqual(await revisionOf(), before);
    const ready = (name: string, n: number) => waitFor(async () => ((await api.get<Service>('Service', name, AIRPORT_PROJECT)).status?.ready ?? 0) >= n || undefined, 120_000, `${name} ready`);
    await Promise.all([ready('cctv', 2), ready('cctv-tail-exit1', 1), ready('cctv-tail-exit2', 1)]);
    const heads = (await api.list<Instance>('Instance', { project: AIRPORT_PROJECT, selector: 'gedge.io/service=cctv' })).items;
    assert.deepEqual(heads.map((i) => i.spec.node).sort(), TERMINALS.map((s) => `${s}-1`), 'a head at each terminal');

    sim = await startCctvSim({ api, project: AIRPORT_PROJECT, sites: TERMINALS, cameras: 2, fps: 4 });
    const windows = async () =>
      (await api.messages(AIRPORT_PROJECT, 'airport-stats', { limit: 500 })).items.filter((m) => m.topic.endsWith('/cctv')).map((m) => JSON.parse(m.payload) as Window);
    const sum = (ws: Window[], k: keyof Window) => ws.reduce((s, w) => s + (w[k] as number), 0);
    const enough = await waitFor(async () => {
      const ws = await windows();
      return TERMINALS.every((s) => sum(ws.filter((w) => w.site === s), 'frames') >= 40) && sum(ws, 'cloud') > 0 ? ws : undefined;
    }, 120_000, 'frames of both terminals measured, some of them finished in the cloud');
    const frames = sum(enough, 'frames');
    const [local, cloud, fallback, correct] = (['local', 'cloud', 'fallback', 'correct'] as const).map((k) => sum(enough, k)) as [number, number, number, number];
    t.diagnostic(`${frames} frames: ${local} at the edge, ${cloud} in the cloud, ${fallback} fallbacks, ${correct} right`);
    assert.equal(local + cloud + fallback, frames, 'every frame answered somewhere');
    assert.ok(local / frames > 0.5, 'most frames exit at the edge');
    assert.ok(correct / frames > 0.7, `accuracy ${correct / frames} on the test split's frames`);
    // The WAN is 50 ms round trip, a floor: a window with two or more frames finished in the cloud has its p99 beyond it.
    assert.ok(enough.some((w) => w.cloud >= 2 && w.frames <= 100) && enough.filter((w) => w.cloud >= 2 && w.frames <= 100).every((w) => w.p99 >= 50), JSON.stringify(enough));

    // The gated rollout, frames still coming: each terminal's new head is measured, shadowed on live frames, then serves.
    const current = (await api.get<Service>('Service', 'cctv', AIRPORT_PROJECT)).status!.revision!;
    await rollToExit2(api, { modelsDir: MODELS });
    const done = await waitFor(async () => {
      const s = await api.get<Service>('Service', 'cctv', AIRPORT_PROJECT);
      const r = s.status?.rollout;
      if (r?.phase === 'RolledBack') throw new Error(`the rollout was rolled back: ${r.message}`);
      return r && r.revision > current && r.phase === 'Complete' && s.status!.ready === 2 ? s : undefined;
    }, 180_000, 'the rollout to exit 2 complete');
    assert.equal(done.spec.template.split?.tail, 'cctv-tail-exit2');
    const promoted = await waitFor(async () => {
      const is = (await api.list<Instance>('Instance', { project: AIRPORT_PROJECT, selector: 'gedge.io/service=cctv' })).items;
      return is.length === 2 && is.every((i) => i.spec.template.model === 'cctv-head-v2') ? is : undefined;
    }, 60_000, 'only exit 2 heads left');
    for (const i of promoted) {
      assert.equal(i.status?.evaluation?.phase, 'Passed', JSON.stringify(i.status?.evaluation));
      assert.equal(i.status?.evaluation?.shadow?.requests, 40);
    }

    // The page shows the terminals, the bytes saved and the rollout.
    const browser = await launchBrowser();
    const shotDir = resultsDir('airport');
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
      await page.goto(`${p.center.localUrl}/`);
      await page.getByLabel('Access token').fill(p.center.adminToken);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
      await page.evaluate(() => (location.hash = '#/airport'));
      try {
        await page.locator('[data-ready="airport"]').waitFor({ timeout: 60_000 });
        await page.locator('#airport-terminals [data-terminal="terminal-1"]').waitFor({ timeout: 60_000 });
        await page.locator('#airport-terminals [data-terminal="terminal-2"]').waitFor({ timeout: 60_000 });
        await waitFor(async () => (await page.locator('#airport-bytes [data-uplink-instance][data-bytes-up]').count()) === 2, 60_000, "both heads' uplink figures on the page");
        await page.locator('#airport-rollout [data-rollout-phase="Complete"]').waitFor({ timeout: 60_000 });
        await page.locator('#airport-rollout [data-evaluation][data-phase="Passed"]').first().waitFor({ timeout: 60_000 });
        const shown = await page.evaluate(() => ({
          accuracy: document.querySelector('[data-terminal="terminal-1"]')?.getAttribute('data-accuracy') ?? null,
          local: document.querySelector('[data-terminal="terminal-1"]')?.getAttribute('data-local-share') ?? null,
          saving: document.querySelector('[data-uplink-total]')?.getAttribute('data-saving') ?? document.querySelector('[data-uplink-instance]')?.getAttribute('data-saving') ?? null,
        }));
        t.diagnostic(`the page shows ${JSON.stringify(shown)}`);
        assert.ok(Number(shown.accuracy) > 0.5 && Number(shown.local) > 0.3, JSON.stringify(shown));
        assert.ok(Number(shown.saving) > 1, `bytes saved against sending every frame: ${shown.saving}`);
        assert.deepEqual(await unlabelledControls(page), []);
        await page.screenshot({ path: join(shotDir, '30-airport.png'), fullPage: true });
      } catch (e) {
        await page.screenshot({ path: join(shotDir, '30-airport-failed.png'), fullPage: true }).catch(() => undefined);
        throw e;
      }
    } finally {
      await browser.close();
    }
  } finally {
    await sim?.stop();
    await p.close();
    await wan.close();
  }
});
