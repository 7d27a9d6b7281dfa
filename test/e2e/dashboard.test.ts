/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against a real
 * gateway and an OpenAI upstream simulator: sign-in with the admin key traded for an HttpOnly
 * cookie, a key created in the UI and used through the official OpenAI client, that request in
 * the log and the overview chart, limits edited, an upstream tested, a batch's progress, a key's
 * month exported as CSV, English and Chinese, the key revoked and refused, a phone-sized
 * viewport and sign-out. Screenshots of every page go to test-results/dashboard/.
 *
 * The static serving is tested over plain HTTP too: the CSP and other headers, caching, the
 * client-route fallback and path traversal.
 */
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import OpenAI, { toFile } from 'openai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP } from '../../src/routes/dashboard.ts';
import { ensureDashboardBuilt, eventually, haveChromium, launchChromium, screenshot, watchPage, type PageProblems } from '../helpers/dashboard-browser.ts';
import { startOpenAISimulator, type OpenAISimulator } from '../helpers/openai-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

// CI installs Chromium (.ci/run); elsewhere the browser half skips rather than fails.
const browserOk = haveChromium();
if (!browserOk && process.env.CI) throw new Error('Chromium is missing: .ci/run installs the Debian package `chromium`.');
if (!browserOk) console.warn('dashboard.test.ts: no Chromium at /usr/bin/chromium, browser tests skipped (apt-get install chromium)');

let sim: OpenAISimulator;
let gw: TestGateway;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let problems: PageProblems;

/** What the browser flow creates, for the steps after it. */
const state: { secret?: string; keyId?: string; requestId?: string } = {};

const client = (key: string) => new OpenAI({ baseURL: gw.baseURL, apiKey: key, maxRetries: 0 });
const dash = (path = '') => `${gw.url}/dashboard${path}`;

/** A GET with the path sent exactly as written (fetch would normalise `..` away). */
function rawGet(port: number, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function signIn(p: Page, key: string): Promise<void> {
  await p.goto(dash('/'));
  await p.getByTestId('admin-key').fill(key);
  await p.getByTestId('signin-submit').click();
  await p.getByTestId('sign-out').waitFor();
}

/** Navigates by the app's own nav (client-side routing, no reload). */
async function open(p: Page, section: string): Promise<void> {
  await p.getByTestId(`nav-${section}`).click();
  await p.waitForURL((u) => u.pathname === (section === 'overview' ? '/dashboard/' : `/dashboard/${section}`));
}

const text = async (p: Page, testId: string) => (await p.getByTestId(testId).first().textContent()) ?? '';

beforeAll(async () => {
  ensureDashboardBuilt();
  sim = await startOpenAISimulator();
  sim.handler = () => ({ type: 'text', text: 'a b c d e', promptTokens: 10, completionTokens: 5 });
  gw = await startTestGateway({
    upstreams: [{ name: 'main', type: 'openai', base_url: sim.url, models: ['gpt-4o-mini', 'gpt-4o'] }],
    models: { 'gpt-4o-mini': { input_price: 1000, output_price: 2000 } },
  });
  if (browserOk) {
    browser = await launchChromium();
    context = await browser.newContext({ locale: 'en-US', viewport: { width: 1366, height: 900 }, acceptDownloads: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gw.url });
    page = await context.newPage();
    problems = await watchPage(page);
  }
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await gw?.close();
  await sim?.close();
});

describe('serving /dashboard', () => {
  const port = () => Number(new URL(gw.url).port);

  it('serves index.html under a strict CSP, with nosniff, no framing and no-cache', async () => {
    for (const path of ['', '/', '/keys', '/requests/req_123', '/usage?key=x']) {
      const res = await fetch(dash(path));
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toBe(DASHBOARD_CSP);
      for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"]) expect(csp).toContain(d);
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
      const html = await res.text();
      expect(html).toContain('<div id="root"></div>');
      // Nothing inline for the CSP to forbid: scripts and styles are files.
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/<style|style=/);
    }
  });

  it('serves hashed assets as immutable, answers 304 to a matching ETag and gzips text', async () => {
    const html = await (await fetch(dash('/'))).text();
    const js = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    const css = /href="(\/dashboard\/assets\/[^"]+\.css)"/.exec(html)?.[1];
    expect(js && css).toBeTruthy();
    const res = await fetch(`${gw.url}${js}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect((await res.text()).length).toBeGreaterThan(1000);
    const again = await fetch(`${gw.url}${js}`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect((await fetch(`${gw.url}${css}`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    const head = await fetch(`${gw.url}${js}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    // A missing asset is a 404, never the app's HTML in its place.
    for (const missing of ['/assets/index-nope.js', '/assets/nope', '/nope.js', '/favicon.ico']) {
      const r = await fetch(dash(missing));
      expect(r.status, missing).toBe(404);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(r.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    }
    expect((await fetch(dash('/favicon.svg'))).headers.get('content-type')).toBe('image/svg+xml');
  });

  it('never serves a file from outside the build, however the path is spelled', async () => {
    const pkg = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const secretLine = pkg.split('\n').find((l) => l.includes('"name"'))!;
    const attempts = [
      '/dashboard/../package.json',
      '/dashboard/../../package.json',
      '/dashboard/%2e%2e/package.json',
      '/dashboard/%2e%2e/%2e%2e/package.json',
      '/dashboard/..%2f..%2fpackage.json',
      '/dashboard/..%2f..%2f..%2fpackage.json',
      '/dashboard/assets/..%2f..%2f..%2fpackage.json',
      '/dashboard/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fsrc%2fapp.ts',
      '/dashboard/..%5c..%5cpackage.json',
      '/dashboard/..\\..\\package.json',
      '/dashboard/%252e%252e/%252e%252e/package.json',
      '/dashboard/....//....//package.json',
      '/dashboard//etc/passwd',
      '/dashboard/%2fetc%2fpasswd',
      '/dashboard/assets/%00../../package.json',
      '/dashboard/%c0%ae%c0%ae/package.json',
      '/dashboard/./index.html/../../package.json',
    ];
    for (const path of attempts) {
      const res = await rawGet(port(), path);
      expect([200, 400, 404], path).toContain(res.status);
      expect(res.body, path).not.toContain(secretLine);
      expect(res.body, path).not.toContain('root:x:0');
      expect(res.body, path).not.toContain('buildApp');
      // Whatever answers is the app's own page or a plain 404.
      if (res.status === 200) expect(res.body, path).toContain('<div id="root"></div>');
    }
    // Through Fastify's own injection too (no HTTP parser in between).
    for (const url of ['/dashboard/../package.json', '/dashboard/%2e%2e%2fpackage.json', '/dashboard/assets/../../package.json']) {
      const res = await gw.app.inject({ method: 'GET', url });
      expect(res.body, url).not.toContain(secretLine);
    }
  });
});

// A browser on two shared cores next to other e2e files: generous per-step time.
describe.skipIf(!browserOk)('the dashboard in Chromium', { timeout: 90_000 }, () => {
  it('shows an error for a wrong admin key and keeps nothing of it', async () => {
    await page.goto(dash('/'));
    await page.getByTestId('signin-form').waitFor();
    await screenshot(page, 'signin');
    await page.getByTestId('admin-key').fill('sk-wrong-admin-key-000');
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('signin-error').waitFor();
    expect(await text(page, 'signin-error')).toMatch(/not valid/);
    expect(await page.getByTestId('admin-key').inputValue()).toBe('');
    expect((await context.cookies()).find((c) => c.name === 'sy_admin')).toBeUndefined();
    await screenshot(page, 'signin-wrong-key');
  });

  it('signs in: the key becomes an HttpOnly SameSite=Strict cookie and is stored nowhere in the browser', async () => {
    await signIn(page, gw.adminKey);
    const cookie = (await context.cookies()).find((c) => c.name === 'sy_admin');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookie!.value).not.toContain(gw.adminKey);
    const seen = await page.evaluate(() => ({
      cookie: document.cookie,
      local: JSON.stringify({ ...window.localStorage }),
      session: JSON.stringify({ ...window.sessionStorage }),
      url: window.location.href,
      html: document.documentElement.outerHTML,
    }));
    expect(seen.cookie).not.toContain('sy_admin');
    for (const v of Object.values(seen)) expect(v).not.toContain(gw.adminKey);
    // A reload stays signed in (the cookie, not page state).
    await page.reload();
    await page.getByTestId('sign-out').waitFor();
    await page.getByTestId('chart-requests').waitFor();
    await screenshot(page, 'overview-empty');
  });

  it('creates a key, shows its secret once with a copy button; the key works through the gateway', async () => {
    await open(page, 'keys');
    await page.getByTestId('new-key').click();
    await page.getByTestId('key-name').fill('browser-e2e');
    await page.getByTestId('save-key').click();
    await page.getByTestId('new-secret').waitFor();
    const secret = (await text(page, 'secret-value')).trim();
    expect(secret).toMatch(/^sk-/);
    await page.getByTestId('copy-secret').click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await screenshot(page, 'keys-new-secret');
    await page.getByTestId('secret-done').click();
    expect(await page.content()).not.toContain(secret);
    const storage = await page.evaluate(() => JSON.stringify({ ...window.localStorage, ...window.sessionStorage }));
    expect(storage).not.toContain(secret);

    const row = page.locator('[data-testid="key-row"]', { hasText: 'browser-e2e' });
    await row.waitFor();
    state.keyId = (await row.getAttribute('data-key-id')) ?? undefined;
    expect(state.keyId).toMatch(/^key_/);
    state.secret = secret;

    const { data, response } = await client(secret).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }).withResponse();
    expect(data.choices[0].message.content).toBe('a b c d e');
    state.requestId = response.headers.get('x-request-id') ?? undefined;
    expect(state.requestId).toBeTruthy();
  });

  it('edits a key’s limits', async () => {
    const row = page.locator(`[data-key-id="${state.keyId}"]`);
    await row.getByTestId('edit-key').click();
    const form = page.getByTestId('edit-key-form');
    await form.waitFor();
    await form.locator('input[name="rpm"]').fill('120');
    await form.locator('input[name="quota_tokens"]').fill('1000000');
    await form.locator('input[name="models"]').fill('gpt-4o-mini, gpt-4o');
    await screenshot(page, 'keys-edit');
    await page.getByTestId('save-key').click();
    await form.waitFor({ state: 'detached' });
    await eventually(async () => (await row.textContent())?.includes('120 RPM'), 'the edited limits in the row');
    const view = (await (await gw.admin('GET', `/admin/keys/${state.keyId}`)).json()) as Record<string, unknown>;
    expect(view).toMatchObject({ rpm: 120, quota_tokens: 1_000_000, models: ['gpt-4o-mini', 'gpt-4o'], tpm: null });
    // Searching finds it by name.
    await page.getByTestId('key-search').fill('browser-e2');
    await eventually(async () => (await page.getByTestId('key-row').count()) === 1, 'one search result');
    await screenshot(page, 'keys');
    await page.getByTestId('key-search').fill('');
  });

  it('shows the request in the log, filtered by key, with a detail view', async () => {
    await open(page, 'requests');
    const row = page.locator(`[data-request-id="${state.requestId}"]`);
    await eventually(async () => {
      if ((await row.count()) > 0) return true;
      await page.getByTestId('refresh').click();
      return false;
    }, 'the request in the log');
    expect(await row.textContent()).toContain('gpt-4o-mini');
    expect(await row.textContent()).toContain('browser-e2e');
    await page.getByTestId('filter-key').fill(state.keyId!);
    await page.getByTestId('filter-status').fill('200');
    await page.getByTestId('apply-filters').click();
    await page.waitForURL((u) => u.searchParams.get('key_id') === state.keyId);
    await row.waitFor();
    await screenshot(page, 'requests');
    // A status that matches nothing empties the table.
    await page.getByTestId('filter-status').fill('error');
    await page.getByTestId('apply-filters').click();
    await row.waitFor({ state: 'detached' });
    await page.goBack();
    await row.locator('a').click();
    const detail = page.getByTestId('request-detail');
    await detail.waitFor();
    const t = (await detail.textContent()) ?? '';
    for (const s of [state.requestId!, 'gpt-4o-mini', 'main', 'chat.completions', state.keyId!, 'browser-e2e']) expect(t).toContain(s);
    await screenshot(page, 'request-detail');
    // Back returns to the log as it was filtered.
    await page.getByTestId('back-to-log').click();
    await page.waitForURL((u) => u.pathname === '/dashboard/requests' && u.searchParams.get('key_id') === state.keyId && u.searchParams.get('status') === '200');
    await row.waitFor();
  });

  it('shows the request in the overview’s charts and tiles', async () => {
    await open(page, 'overview');
    await page.getByTestId('refresh').click();
    await eventually(async () => Number(await page.getByTestId('chart-requests').getAttribute('data-total')) >= 1, 'a request in the chart');
    expect(await text(page, 'tile-requests')).toMatch(/Requests\s*1$/);
    expect(await text(page, 'tile-tokens')).toContain('15');
    // One bar of the hourly chart holds it.
    const bars = await page.locator('[data-testid="chart-requests"] rect.bar').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))));
    expect(bars.filter((v) => v > 0)).toEqual([1]);
    expect(Number(await page.getByTestId('chart-tokens').getAttribute('data-total'))).toBe(15);
    expect(Number(await page.getByTestId('chart-cost').getAttribute('data-total'))).toBeGreaterThan(0);
    expect(await page.getByTestId('by-model').textContent()).toContain('gpt-4o-mini');
    await screenshot(page, 'overview');
    // Another range re-asks the server (daily buckets).
    await page.getByTestId('range-30d').click();
    await eventually(async () => Number(await page.getByTestId('chart-requests').getAttribute('data-points')) >= 30, 'thirty daily buckets');
    await eventually(async () => Number(await page.getByTestId('chart-requests').getAttribute('data-total')) === 1, 'the request in a daily bucket');
    await page.getByTestId('range-24h').click();
  });

  it('lists upstreams with health, tests one and disables and enables it', async () => {
    await open(page, 'upstreams');
    const row = page.locator('[data-upstream="main"]');
    await row.waitFor();
    expect(await row.textContent()).toContain('Healthy');
    await row.getByTestId('test-upstream').click();
    await row.getByTestId('test-result').waitFor();
    expect(await row.getByTestId('test-result').textContent()).toMatch(/^OK in/);
    await screenshot(page, 'upstreams');
    await row.getByTestId('toggle-upstream').click();
    await eventually(async () => (await row.textContent())?.includes('Enable'), 'the upstream disabled');
    expect(((await (await gw.admin('GET', '/admin/upstreams/main')).json()) as { enabled: boolean }).enabled).toBe(false);
    await row.getByTestId('toggle-upstream').click();
    await eventually(async () => (await row.textContent())?.includes('Disable'), 'the upstream enabled again');
    expect(((await (await gw.admin('GET', '/admin/upstreams/main')).json()) as { enabled: boolean }).enabled).toBe(true);
  });

  it('shows batches with a progress bar and links to their files', async () => {
    const c = client(state.secret!);
    const lines = [1, 2].map((i) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `q${i}` }] } }));
    const file = await c.files.create({ file: await toFile(Buffer.from(`${lines.join('\n')}\n`), 'in.jsonl'), purpose: 'batch' });
    const batch = await c.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await eventually(async () => (await c.batches.retrieve(batch.id)).status === 'completed', 'the batch to complete', 20_000);
    await open(page, 'batches');
    const row = page.locator(`[data-batch-id="${batch.id}"]`);
    await row.waitFor();
    const bar = row.getByTestId('batch-progress');
    expect(await bar.getAttribute('max')).toBe('2');
    expect(await bar.getAttribute('value')).toBe('2');
    expect(await row.textContent()).toContain('Completed');
    const links = await row.getByTestId('batch-file').evaluateAll((els) => els.map((e) => e.getAttribute('href')));
    expect(links).toContain(`/admin/files/${file.id}/content`);
    await screenshot(page, 'batches');
    // The download itself needs GET /admin/files/{id}/content on the server side.
    const res = await page.evaluate(async (u) => (await fetch(u, { credentials: 'same-origin' })).status, links[0]!);
    if (res === 200) {
      const [download] = await Promise.all([page.waitForEvent('download'), row.getByTestId('batch-file').first().click()]);
      expect(readFileSync((await download.path())!, 'utf8')).toContain('"custom_id":"r1"');
    }
  });

  it('shows a key’s usage for the month and exports it as CSV', async () => {
    await page.goto(dash(`/usage?key=${state.keyId}`));
    const report = (await (await gw.admin('GET', `/admin/keys/${state.keyId}/usage?group_by=day`)).json()) as { totals: { requests: number; total_tokens: number } };
    await eventually(async () => (await text(page, 'usage-total-requests')) === String(report.totals.requests), 'the month’s total');
    expect(report.totals.requests).toBeGreaterThanOrEqual(3); // the chat call and the batch's two lines
    await page.getByTestId('usage-table').waitFor();
    await screenshot(page, 'usage');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
    expect(download.suggestedFilename()).toMatch(/^usage-browser-e2e-\d{4}-\d{2}\.csv$/);
    const csv = readFileSync((await download.path())!, 'utf8').trim().split(/\r?\n/);
    expect(csv[0]).toBe('date,requests,prompt_tokens,completion_tokens,total_tokens,cost_usd,errors');
    const rows = csv.slice(1).map((l) => l.split(','));
    expect(rows.every((r) => /^\d{4}-\d{2}-\d{2}$/.test(r[0]))).toBe(true);
    expect(rows.reduce((n, r) => n + Number(r[1]), 0)).toBe(report.totals.requests);
    expect(rows.reduce((n, r) => n + Number(r[4]), 0)).toBe(report.totals.total_tokens);
  });

  it('lists users with their balance when the gateway has accounts', async () => {
    const created = await gw.admin('POST', '/admin/users', { email: 'ops@example.com', display_name: 'Ops', balance_usd: 12.5 });
    await page.reload();
    await page.getByTestId('sign-out').waitFor();
    if (created.status !== 201) {
      // Without the accounts routes the page is hidden, not broken.
      expect(await page.getByTestId('nav-users').count()).toBe(0);
      return;
    }
    await page.getByTestId('nav-users').waitFor();
    await open(page, 'users');
    const row = page.locator('[data-testid="user-row"]', { hasText: 'ops@example.com' });
    await row.waitFor();
    expect(await row.textContent()).toContain('$12.50');
    await screenshot(page, 'users');
  });

  it('switches to Simplified Chinese and remembers it; only the language is stored', async () => {
    await open(page, 'overview');
    await page.getByTestId('language').selectOption('zh');
    await eventually(async () => (await text(page, 'nav-overview')) === '概览', 'the Chinese nav');
    expect(await text(page, 'nav-keys')).toBe('密钥');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
    await page.reload();
    await page.getByTestId('nav-requests').waitFor();
    expect(await text(page, 'nav-requests')).toBe('请求日志');
    expect(await text(page, 'tile-requests')).toContain('请求数');
    await screenshot(page, 'overview-zh');
    await open(page, 'keys');
    await screenshot(page, 'keys-zh');
    const stored = await page.evaluate(() => ({ local: { ...window.localStorage }, session: { ...window.sessionStorage } }));
    expect(stored).toEqual({ local: { 'switchyard.lang': 'zh' }, session: {} });
    await page.getByTestId('language').selectOption('en');
    await eventually(async () => (await text(page, 'nav-overview')) === 'Overview', 'English again');
  });

  it('revokes the key; the gateway refuses it from then on (401)', async () => {
    await open(page, 'keys');
    const row = page.locator(`[data-key-id="${state.keyId}"]`);
    await row.getByTestId('revoke-key').click();
    await row.getByTestId('revoke-key-confirm').click();
    await row.waitFor({ state: 'detached' });
    const status = await client(state.secret!)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'again' }] })
      .then(
        () => 200,
        (e: { status?: number }) => e.status ?? -1,
      );
    expect(status).toBe(401);
    expect((await gw.admin('GET', `/admin/keys/${state.keyId}`)).status).toBe(404);
  });

  it('works on a phone-sized screen, in the browser’s language (Chinese) by default', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'zh-CN' });
    try {
      const p = await phone.newPage();
      const phoneProblems = await watchPage(p);
      await p.goto(dash('/'));
      await p.getByTestId('signin-form').waitFor();
      expect(await p.locator('h1').textContent()).toBe('登录');
      await screenshot(p, 'phone-signin');
      await p.getByTestId('admin-key').fill(gw.adminKey);
      await p.getByTestId('signin-submit').tap();
      await p.getByTestId('sign-out').waitFor();
      for (const section of ['overview', 'keys', 'upstreams', 'requests', 'batches', 'usage']) {
        await p.getByTestId(`nav-${section}`).tap();
        await p.waitForURL((u) => u.pathname === (section === 'overview' ? '/dashboard/' : `/dashboard/${section}`));
        await p.waitForLoadState('networkidle');
        // The page itself never scrolls sideways (wide tables scroll inside their box).
        const { scrollWidth, innerWidth } = await p.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
        expect(scrollWidth, section).toBeLessThanOrEqual(innerWidth);
        await screenshot(p, `phone-${section}`);
      }
      expect(phoneProblems).toEqual({ csp: [], errors: [] });
    } finally {
      await phone.close();
    }
  });

  it('signs out back to the sign-in page, and the old cookie no longer opens /admin', async () => {
    const cookie = (await context.cookies()).find((c) => c.name === 'sy_admin')!;
    await page.getByTestId('sign-out').click();
    await page.getByTestId('signin-form').waitFor();
    await page.reload();
    await page.getByTestId('signin-form').waitFor();
    expect((await context.cookies()).find((c) => c.name === 'sy_admin')).toBeUndefined();
    const res = await fetch(`${gw.url}/admin/session`, { headers: { cookie: `sy_admin=${cookie.value}` } });
    expect(res.status).toBe(401);
    await screenshot(page, 'signed-out');
  });

  it('broke no CSP rule and threw no error on any page', () => {
    expect(problems).toEqual({ csp: [], errors: [] });
  });
});
