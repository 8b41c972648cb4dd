import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { stringify } from 'yaml';
import { startPlatform, testService, waitFor } from '../../testkit/index.ts';
import { collectPageErrors, launchBrowser, rendersGlyphs, screenshot, unlabelledControls } from '../../testkit/browser.ts';

const SUITE = 'dashboard';

async function visit(page: Page, route: string, shot: string): Promise<void> {
  await page.evaluate((r: string) => (location.hash = r), route);
  await page.locator('#page-title').waitFor();
  // Loaded when no "Loading…" placeholder is left (the watch stream never lets the network go idle).
  await waitFor(async () => (await page.locator('p.muted[role="status"]').count()) === 0, 10_000, `${route} loaded`).catch(async (e: unknown) => {
    await screenshot(page, SUITE, `failed-${shot}`);
    throw e;
  });
  assert.deepEqual(await unlabelledControls(page), [], `unlabelled controls on ${route}`);
  await screenshot(page, SUITE, shot);
}

test('the dashboard in Chromium against a real center and agents: sign in, nodes, apply from the editor, live instances and logs, a lost node, Korean', async () => {
  const p = await startPlatform({
    heartbeatMs: 300,
    notReadyAfterMs: 2000,
    agents: [
      { name: 'cloud-1', site: 'cloud' },
      { name: 'edge-a-1', site: 'edge-a' },
      { name: 'edge-b-1', site: 'edge-b' },
    ],
  });
  // Launched after the platform, so the platform must end even when the browser does not start.
  const browser = await launchBrowser().catch(async (err: unknown) => {
    await p.close();
    throw err;
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: 'en-US' });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    let loads = 0;
    page.on('load', () => loads++);

    // Sign in with the admin token; a wrong one is refused with the center's reason.
    await page.goto(`${p.center.localUrl}/`);
    await screenshot(page, SUITE, '00-signin');
    const token = page.getByLabel('Access token');
    await token.fill('gdg_wrong_token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    await token.fill(p.center.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    // The token went to an HttpOnly cookie: nothing a script on the page can read holds it.
    const readable = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    assert.ok(!readable.includes('gdg_'), `the token is out of the page's reach: ${readable}`);

    // Keyboard: on a fresh load the first Tab reaches the skip link, which leads to the page heading.
    await page.reload();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    loads = 1;
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'page-title');

    // Three nodes Ready, live.
    await page.getByRole('link', { name: 'Nodes', exact: true }).click();
    await waitFor(async () => (await page.locator('[data-node] .badge[data-value="Ready"]').count()) === 3, 20_000, 'three nodes Ready');
    await visit(page, '#/overview', '01-overview');
    await visit(page, '#/nodes', '03-nodes');

    // Apply a service through the YAML editor: errors inline with their paths first, then a valid manifest.
    await page.getByRole('link', { name: 'Apply' }).click();
    const editor = page.locator('.cm-content');
    await editor.waitFor();
    const manifest = testService('web', { replicas: 2, script: "let n = 0; setInterval(() => console.log('tick ' + n++), 200)" });
    const bad = stringify({ ...manifest, spec: { ...(manifest as { spec: object }).spec, replicas: -1, colour: 'blue' } });
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(bad);
    const errorList = page.locator('[data-apply-errors]');
    await waitFor(async () => /spec\.replicas/.test((await errorList.textContent()) ?? '') && /colour/.test((await errorList.textContent()) ?? ''), 10_000, 'both errors listed with their paths');
    await waitFor(async () => (await page.locator('.cm-lintRange-error, .cm-lint-marker-error').count()) > 0, 10_000, 'errors marked inline');
    await screenshot(page, SUITE, '10-apply-errors');
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(stringify(manifest));
    const apply = page.locator('[data-action="apply"]');
    await waitFor(async () => await apply.isEnabled(), 10_000, 'the valid manifest passes the dry run');
    await apply.click();
    const result = page.locator('[data-apply-result]');
    await result.getByRole('link', { name: /web/ }).waitFor();
    await screenshot(page, SUITE, '11-apply-done');

    // Its instances turn Running on the service page, without a reload.
    await result.getByRole('link', { name: /web/ }).click();
    await waitFor(async () => (await page.locator('[data-instance] .badge[data-value="Running"]').count()) === 2, 30_000, 'two instances Running');
    assert.equal(loads, 1, 'the page was never reloaded');
    await visit(page, '#/services', '04-services');
    await visit(page, '#/services/default/web', '05-service');

    // An instance's log streams new lines as they are written.
    await page.locator('[data-instance] a[href^="#/instances/"]').first().click();
    const log = page.locator('[data-logs]');
    await waitFor(async () => /tick \d+/.test((await log.textContent()) ?? ''), 15_000, 'log lines');
    const lastTick = async () => Math.max(...[...((await log.textContent()) ?? '').matchAll(/tick (\d+)/g)].map((m) => Number(m[1])));
    const before = await lastTick();
    await waitFor(async () => (await lastTick()) >= before + 5, 15_000, 'new log lines arriving');
    await screenshot(page, SUITE, '06-instance-logs');

    // Kill an agent: its node turns NotReady on screen; restarted, Ready again.
    await p.agents.get('edge-b-1')!.process.kill9();
    await visit(page, '#/nodes', '03-nodes');
    const edgeB = page.locator('[data-node="edge-b-1"] .badge');
    await waitFor(async () => (await edgeB.getAttribute('data-value')) === 'NotReady', 20_000, 'edge-b-1 NotReady');
    await screenshot(page, SUITE, '07-node-not-ready');
    await p.startAgent('edge-b-1');
    await waitFor(async () => (await edgeB.getAttribute('data-value')) === 'Ready', 30_000, 'edge-b-1 Ready again');

    // Every other page renders, labelled.
    await visit(page, '#/topology', '02-topology');
    await visit(page, '#/topology/edge-a', '02-topology-site');
    await visit(page, '#/nodes/edge-a-1', '03-node-detail');
    await visit(page, '#/devices', '08-devices');
    await visit(page, '#/rules', '09-rules');

    // Korean: the language menu switches every string at once, rendered with a CJK font.
    await page.getByLabel('Language').selectOption('ko');
    await page.getByRole('link', { name: '노드', exact: true }).click();
    await page.getByRole('heading', { name: '노드', exact: true }).waitFor();
    assert.ok(await rendersGlyphs(page, '노드'), 'Hangul renders with a real font');
    await screenshot(page, SUITE, '12-nodes-ko');
    await visit(page, '#/overview', '12-overview-ko');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'ko');
    assert.equal(loads, 1, 'the page was never reloaded');
    // The refused token (401) and the invalid manifest's dry runs (422) are answers the pages expect and show; Chromium logs them anyway.
    assert.deepEqual(errors.filter((e) => !/Failed to load resource: the server responded with a status of (401|422)/.test(e)), []);
  } finally {
    await browser.close();
    await p.close();
  }
});
