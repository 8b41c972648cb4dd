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
  }));
  const [edgeP99, cloudP99, ratio, latencyRatio] = [number(raw.edgeP99), number(raw.cloudP99), number(raw.ratio), number(raw.latencyRatio)];
  if (edgeP99 === null || cloudP99 === null || ratio === null || raw.intersections === 0) return null;
  const peaks = Object.fromEntries(raw.peaks.flatMap(([node, v]) => (number(v) === null ? [] : [[node, number(v)!]])));
  return { edgeP99, cloudP99, ratio, latencyRatio, intersections: raw.intersections, phased: raw.phased, peaks };
}

const number = (v: string | null | undefined): number | null => (v === null || v === undefined || v.trim() === '' || !Number.isFinite(Number(v)) ? null : Number(v));

/**
 * Opens `#/scenario` on a signed-in page, waits until the scenario's numbers
 * are on screen, checks every control is labelled, saves
 * `<shotDir>/20-scenario.png` (full page) and returns the numbers.
 */
export async function checkScenarioPage(o: { page: Page; url: string; shotDir: string; timeoutMs?: number }): Promise<ScenarioNumbers> {
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
    const first = await waitFor(() => read(page), timeoutMs, 'the scenario page to show edge and cloud latency, the data reduction and an intersection');
    // Loaded when no "Loading…" placeholder is left (as in dashboard.test.ts).
    await waitFor(async () => (await page.locator('p.muted[role="status"]').count()) === 0, timeoutMs, 'the scenario page loaded');
    const unlabelled = await unlabelledControls(page);
    if (unlabelled.length > 0) throw new Error(`unlabelled controls on #/scenario: ${unlabelled.join(' | ')}`);
    // The numbers as the screenshot shows them (they move with every window).
    const numbers = (await read(page)) ?? first;
    await page.screenshot({ path: shot, fullPage: true });
    return numbers;
  } catch (e) {
    await page.screenshot({ path: join(shotDir, '20-scenario-failed.png'), fullPage: true }).catch(() => undefined);
    throw e;
  }
}
