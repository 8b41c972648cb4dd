import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectPageErrors, launchBrowser, rendersGlyphs, resultsDir, screenshot } from './browser.ts';
import { waitFor } from './wait-for.ts';

const PAGE = `<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><title>gedge</title><link rel="icon" href="data:,"></head>
<body style="font: 32px sans-serif">
  <h1 id="title">노드 상태</h1>
</body></html>`;

async function servePage() {
  const server = http.createServer((req, res) => {
    if (req.url !== '/') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test('chromium renders a Korean page with a CJK font and saves a screenshot', async () => {
  const browser = await launchBrowser();
  const server = await servePage();
  try {
    const page = await browser.newPage();
    const errors = collectPageErrors(page);
    await page.goto(server.url);

    assert.equal(await page.textContent('#title'), '노드 상태');

    assert.ok(await rendersGlyphs(page, '노드'), "'노드' renders as tofu: run scripts/ensure-chromium.sh to install fonts-noto-cjk");

    const file = await screenshot(page, 'testkit-browser', 'korean-page');
    assert.ok(file.startsWith(resultsDir('testkit-browser')));
    assert.ok(statSync(file).size > 0, `${file} is empty`);

    assert.deepEqual(errors, []);
    // The collector is live: errors after this point still land in the same array.
    await page.evaluate(() => {
      console.error('boom');
      setTimeout(() => {
        throw new Error('uncaught');
      });
    });
    await waitFor(() => errors.length === 2, 5000, 'console error and page error');
    assert.deepEqual(errors.sort(), ['console.error: boom', 'pageerror: uncaught']);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('resultsDir refuses suite names that would leave test-results', () => {
  assert.throws(() => resultsDir('../escape'), /must be letters/);
  assert.throws(() => resultsDir(''), /must be letters/);
});
