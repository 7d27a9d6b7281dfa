/**
 * Browser tests of the dashboard: Debian's Chromium driven by playwright-core (no browser
 * download), a build of web/ made first if it is missing or stale, and a recorder of what a page
 * must never do (break its CSP, throw, log errors).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const CHROMIUM_PATH = process.env.SWITCHYARD_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = join(ROOT, 'test-results', 'dashboard');

/** Whether the browser is there (.ci/run installs Debian's `chromium`). */
export const haveChromium = (): boolean => existsSync(CHROMIUM_PATH);

/** Builds web/dist when it is missing or older than web/src (so `npm test` works right after `npm ci`). */
export function ensureDashboardBuilt(): void {
  execFileSync(process.execPath, [join(ROOT, 'web', 'ensure-build.mjs')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * Headless Chromium with a fresh temporary profile (launch() makes one per browser and removes
 * it on close): no sandbox (root in CI), no GPU, and none of the background traffic a profile
 * makes on first start.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

export interface PageProblems {
  csp: string[];
  errors: string[];
}

/**
 * Records CSP violations (the `securitypolicyviolation` event, listened for by a script the
 * browser injects before the page's own, which the CSP does not govern), uncaught exceptions and
 * console errors other than the 401s the app expects while signed out.
 */
export async function watchPage(page: Page): Promise<PageProblems> {
  const problems: PageProblems = { csp: [], errors: [] };
  await page.exposeFunction('__reportCsp', (v: string) => problems.csp.push(v));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __reportCsp(v: string): void }).__reportCsp(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  page.on('pageerror', (err) => problems.errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (/Content Security Policy/i.test(text)) problems.csp.push(text);
    // The session check and a wrong key answer 401, which Chromium logs as a failed resource.
    else if (!/status of 40[134]/.test(text)) problems.errors.push(`console: ${text}`);
  });
  return problems;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** Polls `check` until it returns a truthy value (a UI that refreshes, a log that flushes). */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
