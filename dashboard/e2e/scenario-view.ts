import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { unlabelledControls, waitFor } from '../../testkit/index.ts';

/** What the Scenario page shows, read from its data attributes (numbers, not text). */
export interface ScenarioNumbers {
  /** p99 control-loop latency (ms) over the newest window per site, closed at the edge and through the cloud. */
  edgeP99: number;
  cloudP99: number;
  /** Data reduction: raw bytes on the edge brokers / bytes uplinked (`[data-reduction]`'s data-ratio). */
  ratio: number;
  /** cloudP99 / edgeP99, as the page states it ("x times faster at the edge"). */
  latencyRatio: number | null;
  /** Intersections shown, and how many of them report a phase. */
  intersections: number;
  phased: number;
  /** Each edge node's peak uplink buffer (`[data-uplink]`'s data-peak): what a cut-off edge held. */
  peaks: Record<string, number>;
  /** With the vehicles: those on the map, the hand-overs listed, each edge's offload state and the assistant's p99 there as the vehicles saw it. */
  vehicles: { vehicle: string; site: string }[];
  handovers: { interruptionMs: number; predicted: boolean | null; counterOk: boolean }[];
  offload: Record<string, string>;
  assistP99: Record<string, number>;
}

/** What to wait for besides the control loop: vehicles on the map, hand-overs listed, an edge in an offload state. */
export interface VehiclesWanted {
  handovers: number;
  offload: { site: string; state: 'edge' | 'overflowing' };
}

/** The page's numbers once both latency blocks and the reduction have one and an intersection is shown; null before. */
async function read(page: Page): Promise<ScenarioNumbers | null> {
  // No helper functions inside evaluate: the test loader's transform names them (`__name`), which the page does not have.
  const raw = await page.evaluate(() => ({
    edgeP99: document.querySelector('[data-latency="edge"]')?.getAttribute('data-p99') ?? null,
    cloudP99: document.querySelector('[data-latency="cloud"]')?.getAttribute('data-p99') ?? null,
    ratio: document.querySelector('[data-reduction]')?.getAttribute('data-ratio') ?? null,
    latencyRatio: document.querySelector('[data-latency-ratio]')?.getAttribute('data-latency-ratio') ?? null,
    intersections: document.querySelectorAll('[data-intersection]').length,
    phased: document.querySelectorAll('[data-intersection][data-phase]').length,
    peaks: [...document.querySelectorAll('[data-uplink][data-peak]')].map((e) => [e.getAttribute('data-uplink') ?? '', e.getAttribute('data-peak')] as const),
    vehicles: [...document.querySelectorAll('[data-vehicle][data-site]')].map((e) => ({ vehicle: e.getAttribute('data-vehicle') ?? '', site: e.getAttribute('data-site') ?? '' })),
    handovers: [...document.querySelectorAll('[data-handover][data-interruption-ms]')].map((e) => [e.getAttribute('data-interruption-ms'), e.getAttribute('data-predicted'), e.getAttribute('data-counter-ok')] as const),
    offload: [...document.querySelectorAll('[data-offload][data-state]')].map((e) => [e.getAttribute('data-offload') ?? '', e.getAttribute('data-state') ?? ''] as const),
    assist: [...document.querySelectorAll('[data-assist][data-p99]')].map((e) => [e.getAttribute('data-assist') ?? '', e.getAttribute('data-p99')] as const),
  }));
  const [edgeP99, cloudP99, ratio, latencyRatio] = [number(raw.edgeP99), number(raw.cloudP99), number(raw.ratio), number(raw.latencyRatio)];
  if (edgeP99 === null || cloudP99 === null || ratio === null || raw.intersections === 0) return null;
  const peaks = Object.fromEntries(raw.peaks.flatMap(([node, v]) => (number(v) === null ? [] : [[node, number(v)!]])));
  const handovers = raw.handovers.flatMap(([ms, predicted, ok]) => (number(ms) === null ? [] : [{ interruptionMs: number(ms)!, predicted: predicted === null ? null : predicted === 'true', counterOk: ok === 'true' }]));
  const assistP99 = Object.fromEntries(raw.assist.flatMap(([site, v]) => (number(v) === null ? [] : [[site, number(v)!]])));
  return { edgeP99, cloudP99, ratio, latencyRatio, intersections: raw.intersections, phased: raw.phased, peaks, vehicles: raw.vehicles, handovers, offload: Object.fromEntries(raw.offload), assistP99 };
}

/** The numbers once the vehicles wanted are on screen too. */
async function readWithVehicles(page: Page, wanted: VehiclesWanted | undefined): Promise<ScenarioNumbers | null> {
  const n = await read(page);
  if (!n || !wanted) return n;
  return n.vehicles.length > 0 && n.handovers.length >= wanted.handovers && n.offload[wanted.offload.site] === wanted.offload.state ? n : null;
}

const number = (v: string | null | undefined): number | null => (v === null || v === undefined || v.trim() === '' || !Number.isFinite(Number(v)) ? null : Number(v));

/**
 * Opens `#/scenario` on a signed-in page, waits until the scenario's numbers
 * are on screen (with `vehicles`, the vehicles' too), checks every control
 * is labelled, saves `<shotDir>/20-scenario.png` (full page) and returns the
 * numbers.
 */
export async function checkScenarioPage(o: { page: Page; url: string; shotDir: string; timeoutMs?: number; vehicles?: VehiclesWanted }): Promise<ScenarioNumbers> {
  const { page, url, shotDir } = o;
  const timeoutMs = o.timeoutMs ?? 60_000;
  const shot = join(shotDir, '20-scenario.png');
  mkdirSync(shotDir, { recursive: true });
  const base = url.replace(/\/+$/, '');
  // Already in the app: change the hash only, so the watch stream and the session stay as they are.
  if (page.url().startsWith(`${base}/`)) await page.evaluate(() => (location.hash = '#/scenario'));
  else await page.goto(`${base}/#/scenario`);
  try {
    await page.locator('#page-title').waitFor({ timeout: timeoutMs });
    const first = await waitFor(() => readWithVehicles(page, o.vehicles), timeoutMs, `the scenario page to show edge and cloud latency, the data reduction and an intersection${o.vehicles ? `, vehicles, ${o.vehicles.handovers} hand-over(s) and ${o.vehicles.offload.site} ${o.vehicles.offload.state}` : ''}`);
    // Loaded when no "Loading…" placeholder is left (as in dashboard.test.ts).
    await waitFor(async () => (await page.locator('p.muted[role="status"]').count()) === 0, timeoutMs, 'the scenario page loaded');
    const unlabelled = await unlabelledControls(page);
    if (unlabelled.length > 0) throw new Error(`unlabelled controls on #/scenario: ${unlabelled.join(' | ')}`);
    // The numbers as the screenshot shows them (they move with every window).
    const numbers = (await readWithVehicles(page, o.vehicles)) ?? first;
    await page.screenshot({ path: shot, fullPage: true });
    return numbers;
  } catch (e) {
    await page.screenshot({ path: join(shotDir, '20-scenario-failed.png'), fullPage: true }).catch(() => undefined);
    throw e;
  }
}
