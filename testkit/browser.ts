// Browser tests drive Debian's chromium (installed by scripts/ensure-chromium.sh)
// through playwright-core, never a `playwright install` download: one browser,
// from the distribution, that CI and laptops share.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { REPO_ROOT } from './processes.ts';

const DEFAULT_CHROMIUM = '/usr/bin/chromium';

// Headless and quiet: no sandbox (tests run as root in containers), no GPU, and
// none of the background traffic (updates, sync, QUIC probes) that would make
// a test depend on the network.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.GEDGE_CHROMIUM ?? DEFAULT_CHROMIUM;
  if (!existsSync(executablePath)) {
    throw new Error(`chromium not found at ${executablePath}: run scripts/ensure-chromium.sh as root (or set GEDGE_CHROMIUM)`);
  }
  // Loaded here, not at the top: importing playwright-core takes about a second,
  // and every test that imports testkit would pay it.
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath, headless: true, args: ARGS });
}

const SAFE_NAME = /^\w[\w.-]*$/;

function checkName(kind: string, name: string): void {
  if (!SAFE_NAME.test(name)) throw new Error(`${kind} ${JSON.stringify(name)} must be letters, digits, '_', '-', '.' (it names a file)`);
}

/** `<repo>/test-results/<suite>`, created if needed: where a suite keeps its artifacts. */
export function resultsDir(suite: string): string {
  checkName('suite', suite);
  const dir = join(REPO_ROOT, 'test-results', suite);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Saves a full-page PNG as `test-results/<suite>/<name>.png` and returns its path. */
export async function screenshot(page: Page, suite: string, name: string): Promise<string> {
  checkName('screenshot name', name);
  const path = join(resultsDir(suite), `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Records uncaught page exceptions and console errors from now on, so a test
 * can end with `assert.deepEqual(errors, [])`. The array fills as events arrive.
 */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console.error: ${msg.text()}`);
  });
  return errors;
}

/**
 * Whether `text` renders with real glyphs in the page's body font. A missing
 * glyph is drawn as the same fallback box ("tofu") whatever the codepoint, so
 * text without a font is pixel-identical to as many private-use characters
 * (checked with chromium limited to DejaVu fonts). Widths are no signal:
 * under lang="ko" the box comes from Noto CJK and is wider than Hangul.
 */
export async function rendersGlyphs(page: Page, text: string): Promise<boolean> {
  const [real, tofu] = await page.evaluate(
    (texts: string[]) =>
      texts.map((t) => {
        const canvas = document.createElement('canvas');
        canvas.width = 40 * t.length;
        canvas.height = 48;
        const ctx = canvas.getContext('2d');
        if (!ctx) throw new Error('no 2d canvas context');
        ctx.font = `32px ${getComputedStyle(document.body).fontFamily}`;
        ctx.fillText(t, 0, 36);
        return canvas.toDataURL();
      }),
    [text, '\uE000'.repeat([...text].length)],
  );
  return real !== tofu;
}

/** Controls a keyboard or screen-reader user cannot name (none may exist on any page). */
export async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    for (const el of document.querySelectorAll<HTMLElement>('a[href], button, input, select, textarea, [role="button"], [tabindex]:not([tabindex="-1"])')) {
      if (el.closest('[aria-hidden="true"]')) continue;
      const labelled = el.getAttribute('aria-labelledby')?.split(' ').map((id) => document.getElementById(id)?.textContent ?? '').join(' ');
      const labels = (el as HTMLInputElement).labels ? [...(el as HTMLInputElement).labels!].map((l) => l.textContent ?? '').join(' ') : '';
      const name = [el.getAttribute('aria-label'), labelled, labels, el.textContent, el.getAttribute('title'), (el as HTMLInputElement).placeholder].find((s) => s && s.trim());
      if (!name) out.push(el.outerHTML.slice(0, 120));
    }
    return out;
  });
}
