/**
 * Accounts for relay operators on one instance (SQLite): users, groups and their prices,
 * balances charged through the same reservations as key quotas, redemption codes, the ledger,
 * the portal API with its session cookie and sign-in throttle, isolation between users, the
 * legacy billing endpoints, /v1/pricing and the admin audit log.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.ts';
import { type MidjourneySimulator, startMidjourneySimulator } from '../helpers/midjourney-simulator.ts';
import { type OpenAISimulator, startOpenAISimulator } from '../helpers/openai-simulator.ts';
import { PortalClient } from '../helpers/portal-client.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

let sim: OpenAISimulator;
let mj: MidjourneySimulator;
let gw: TestGateway;
let ipSeq = 0;
const portal = () => new PortalClient(gw.url, `10.0.0.${++ipSeq}`);
const clientFor = (key: string) => new OpenAI({ baseURL: gw.baseURL, apiKey: key, maxRetries: 0 });
const ask = (key: string, model = 'gpt-4o-mini', extra: Record<string, unknown> = {}) =>
  clientFor(key).chat.completions.create({ model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 5, ...extra } as never);
const json = async (r: Response) => (await r.json()) as Record<string, unknown>;

async function makeUser(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await gw.admin('POST', '/admin/users', body);
  expect(r.status, await r.clone().text()).toBe(201);
  return json(r);
}

async function userKey(userId: string, extra: Record<string, unknown> = {}): Promise<{ key: string; id: string }> {
  return gw.createKey({ user_id: userId, ...extra });
}

beforeAll(async () => {
  sim = await startOpenAISimulator();
  mj = await startMidjourneySimulator({ secret: 'mj-upstream-secret' });
  // Every call: 10 prompt + 5 completion tokens -> $0.01 + $0.01 = $0.02 at list prices.
  sim.handler = () => ({ type: 'text', text: 'a b c d e', promptTokens: 10, completionTokens: 5 });
  gw = await startTestGateway({
    upstreams: [
      { name: 'main', type: 'openai', base_url: sim.url, models: ['gpt-4o-mini', 'gpt-4o'] },
      { name: 'mj', type: 'midjourney', base_url: mj.url, api_key: 'mj-upstream-secret' },
    ],
    models: { 'gpt-4o-mini': { input_price: 1000, output_price: 2000 }, 'gpt-4o': { input_price: 3000, output_price: 6000 } },
    groups: { vip: { price_factor: 0.8, models: ['gpt-4o-mini'] } },
    accounts: { signup: 'open', signin_max_failures_per_account: 3, signin_max_failures_per_ip: 6, signin_window_seconds: 60 },
    trusted_proxies: ['127.0.0.1'],
  });
});

afterAll(async () => {
  await gw?.close();
  await sim?.close();
  await mj?.close();
});

describe('admin users API', () => {
  it('creates, reads, lists, searches, updates and deletes users; bad input is a 400, a duplicate email a 409', async () => {
    const u = await makeUser({ email: 'Carol@Example.com', display_name: 'Carol', password: 'correct horse', balance_usd: 5 });
    expect(u).toMatchObject({ object: 'user', email: 'carol@example.com', display_name: 'Carol', group: 'default', status: 'active', balance_usd: 5, has_password: true });
    expect(JSON.stringify(u)).not.toContain('correct horse');
    const row = await gw.store.db.selectFrom('users').selectAll().where('id', '=', u.id as string).executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(row.password_hash).not.toContain('correct horse');

    expect(await json(await gw.admin('GET', `/admin/users/${u.id}`))).toMatchObject({ id: u.id, balance_usd: 5 });
    const found = await json(await gw.admin('GET', '/admin/users?search=CAROL&limit=10'));
    expect((found.data as Array<{ id: string }>).map((x) => x.id)).toEqual([u.id]);
    const patched = await json(await gw.admin('PATCH', `/admin/users/${u.id}`, { display_name: 'Caz', group: 'vip', balance_usd: 7.5 }));
    expect(patched).toMatchObject({ display_name: 'Caz', group: 'vip', balance_usd: 7.5 });

    expect((await gw.admin('POST', '/admin/users', { email: 'carol@example.com' })).status).toBe(409);
    for (const bad of [{}, { email: 'not-an-email' }, { email: 'x@y.z', password: 'short' }, { email: 'x@y.z', balance_usd: -1 }, { email: 'x@y.z', bogus: 1 }, { email: 'x@y.z', group: 'nope' }]) {
      const r = await gw.admin('POST', '/admin/users', bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(((await r.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    }
    expect((await gw.admin('PATCH', '/admin/users/user_missing', { display_name: 'x' })).status).toBe(404);
    expect((await gw.admin('GET', '/admin/users/user_missing')).status).toBe(404);
    expect((await fetch(`${gw.url}/admin/users`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await gw.admin('POST', '/admin/keys', { name: 'k', user_id: 'user_missing' })).status).toBe(400);

    const { key } = await userKey(u.id as string);
    expect((await ask(key)).choices[0].message.content).toBeTruthy();
    const del = await json(await gw.admin('DELETE', `/admin/users/${u.id}`));
    expect(del).toMatchObject({ deleted: true, keys_revoked: 1 });
    expect((await apiError(ask(key))).status).toBe(401);
    expect((await gw.admin('GET', `/admin/users/${u.id}`)).status).toBe(404);
    // The address is free again.
    await makeUser({ email: 'carol@example.com' });
  });

  it('groups: config groups are read-only, groups made here can be edited and removed when empty', async () => {
    const list = await json(await gw.admin('GET', '/admin/groups'));
    expect(list.data).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'default', price_factor: 1, source: 'builtin' }), expect.objectContaining({ name: 'vip', price_factor: 0.8, source: 'config' })]),
    );
    expect((await gw.admin('PUT', '/admin/groups/vip', { price_factor: 0.1 })).status).toBe(409);
    expect(await json(await gw.admin('PUT', '/admin/groups/reseller', { price_factor: 0.5, description: 'resellers' }))).toMatchObject({ name: 'reseller', price_factor: 0.5, source: 'database' });
    expect((await gw.admin('PUT', '/admin/groups/bad name', { price_factor: 1 })).status).toBe(400);
    expect((await gw.admin('PUT', '/admin/groups/x', { price_factor: -1 })).status).toBe(400);
    const u = await makeUser({ email: 'reseller@example.com', group: 'reseller' });
    expect((await gw.admin('DELETE', '/admin/groups/reseller')).status).toBe(409);
    await gw.admin('PATCH', `/admin/users/${u.id}`, { group: 'default' });
    expect((await gw.admin('DELETE', '/admin/groups/reseller')).status).toBe(200);
    expect((await gw.admin('GET', '/admin/groups/reseller')).status).toBe(404);
  });
});

describe('charging a user balance', () => {
  it("charges a user's key at the group's factor: the exact cost is in /v1/usage, the balance and the ledger", async () => {
    const u = await makeUser({ email: 'vip@example.com', group: 'vip', balance_usd: 1 });
    const { key } = await userKey(u.id as string);
    await ask(key);
    await ask(key);
    const usage = (await (await fetch(`${gw.baseURL}/usage`, { headers: { authorization: `Bearer ${key}` } })).json()) as { totals: { cost_usd: number; requests: number } };
    // 2 x $0.02 x 0.8
    expect(usage.totals).toMatchObject({ requests: 2, cost_usd: 0.032 });
    await gw.services.recorder.flush();
    const view = await json(await gw.admin('GET', `/admin/users/${u.id}`));
    expect(view.balance_usd).toBeCloseTo(1 - 0.032, 9);
    expect(view.spent_usd).toBeCloseTo(0.032, 9);
    const ledger = await json(await gw.admin('GET', `/admin/users/${u.id}/ledger`));
    const entries = ledger.data as Array<{ kind: string; amount_usd: number; requests: number }>;
    expect(entries.find((e) => e.kind === 'charge')).toMatchObject({ requests: 2 });
    expect(entries.reduce((s, e) => s + e.amount_usd, 0)).toBeCloseTo(view.balance_usd as number, 9);
    // The group narrows the models its users may call.
    expect((await apiError(ask(key, 'gpt-4o'))).status).toBe(403);
  });

  it('a user at zero gets 429 insufficient_quota on every key; 50 concurrent requests overspend by at most one reservation', async () => {
    const broke = await makeUser({ email: 'broke@example.com' });
    const k1 = await userKey(broke.id as string);
    const k2 = await userKey(broke.id as string);
    for (const k of [k1, k2]) {
      const e = await apiError(ask(k.key));
      expect(e.status).toBe(429);
      expect(e.code).toBe('insufficient_quota');
    }

    // $0.1 covers 5 requests of $0.02; a reservation is (prompt estimate + max_tokens) at the list prices.
    const u = await makeUser({ email: 'burst@example.com', balance_usd: 0.1 });
    const keys = await Promise.all([userKey(u.id as string), userKey(u.id as string)]);
    sim.handler = () => ({ type: 'text', text: 'a b c d e', promptTokens: 10, completionTokens: 5, firstByteDelayMs: 50 });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => ask(keys[i % 2].key).then(() => 200, (e: { status: number }) => e.status)));
    sim.handler = () => ({ type: 'text', text: 'a b c d e', promptTokens: 10, completionTokens: 5 });
    const ok = results.filter((s) => s === 200).length;
    expect(results.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    await gw.services.recorder.flush();
    const view = await json(await gw.admin('GET', `/admin/users/${u.id}`));
    const spent = view.spent_usd as number;
    expect(spent).toBeCloseTo(ok * 0.02, 9);
    // One reservation: the prompt as counted (a few tokens) plus max_tokens, at list prices; well under $0.05.
    expect(spent).toBeGreaterThanOrEqual(0.1 - 1e-9);
    expect(spent).toBeLessThanOrEqual(0.1 + 0.05);
    expect((await apiError(ask(keys[0].key))).code).toBe('insufficient_quota');
    const sum = (await gw.services.users.ledgerSum(u.id as string)) as number;
    expect(sum).toBeCloseTo(view.balance_usd as number, 9);
  });

  it("a key's own quota still holds under the user's balance", async () => {
    const u = await makeUser({ email: 'keyquota@example.com', balance_usd: 10 });
    const { key } = await userKey(u.id as string, { quota_usd: 0.03 });
    await ask(key);
    await ask(key);
    const e = await apiError(ask(key));
    expect(e.status).toBe(429);
    expect(e.message).toMatch(/quota/);
  });

  it('a disabled user is refused on every key at once and signed out; enabled again, the keys work', async () => {
    const u = await makeUser({ email: 'disable@example.com', password: 'password-1', balance_usd: 1 });
    const { key } = await userKey(u.id as string);
    const p = portal();
    expect((await p.signIn('disable@example.com', 'password-1')).status).toBe(200);
    await ask(key);
    await gw.admin('PATCH', `/admin/users/${u.id}`, { status: 'disabled' });
    const e = await apiError(ask(key));
    expect(e.status).toBe(401);
    expect(e.message).toMatch(/disabled/);
    expect((await p.call('GET', '/portal/me')).status).toBe(401);
    await gw.admin('PATCH', `/admin/users/${u.id}`, { status: 'active' });
    expect((await ask(key)).choices).toHaveLength(1);
  });
});

describe('redemption codes', () => {
  it('makes codes shown once; each credits exactly once even when sent 20 times at the same moment; the ledger sums to the balance', async () => {
    const made = await gw.admin('POST', '/admin/redemption-codes', { amount_usd: 2.5, count: 3, name: 'promo' });
    expect(made.status).toBe(201);
    const codes = ((await made.json()) as { data: Array<{ id: string; code: string; status: string; amount_usd: number }> }).data;
    expect(codes).toHaveLength(3);
    expect(codes[0]).toMatchObject({ status: 'unused', amount_usd: 2.5 });
    const listed = await json(await gw.admin('GET', '/admin/redemption-codes?status=unused'));
    expect(JSON.stringify(listed)).not.toContain(codes[0].code);
    const stored = await gw.store.db.selectFrom('redemption_codes').selectAll().execute();
    expect(JSON.stringify(stored)).not.toContain(codes[0].code);

    const p = portal();
    expect((await p.signUp('redeemer@example.com', 'password-1')).status).toBe(201);
    const attempts = await Promise.all(Array.from({ length: 20 }, () => p.call('POST', '/portal/redeem', { code: codes[0].code })));
    expect(attempts.filter((a) => a.status === 200)).toHaveLength(1);
    expect(attempts.filter((a) => a.status === 409)).toHaveLength(19);
    // Typed differently (lower case, no dashes) it is the same code.
    const r2 = await p.call('POST', '/portal/redeem', { code: codes[1].code.toLowerCase().replace(/-/g, '') });
    expect(r2.json).toMatchObject({ amount_usd: 2.5, balance_usd: 5 });
    expect((await p.call('POST', '/portal/redeem', { code: 'SY-NOPE' })).status).toBe(400);
    expect((await p.call('POST', '/portal/redeem', {})).status).toBe(400);
    expect((await new PortalClient(gw.url).call('POST', '/portal/redeem', { code: codes[2].code })).status).toBe(401);

    const me = (await p.call('GET', '/portal/me')).json;
    expect(me.balance_usd).toBe(5);
    const ledger = (await p.call('GET', '/portal/ledger')).json as { data: Array<{ kind: string; amount_usd: number }> };
    expect(ledger.data.map((e) => e.kind)).toEqual(['redemption', 'redemption']);
    expect(await gw.services.users.ledgerSum(me.id as string)).toBeCloseTo(5, 9);

    // Disabled and expired codes.
    expect((await gw.admin('DELETE', `/admin/redemption-codes/${codes[2].id}`)).status).toBe(200);
    expect((await p.call('POST', '/portal/redeem', { code: codes[2].code })).status).toBe(400);
    expect((await gw.admin('DELETE', `/admin/redemption-codes/${codes[0].id}`)).status).toBe(409);
    const old = ((await (await gw.admin('POST', '/admin/redemption-codes', { amount_usd: 1, expires_at: Math.floor(Date.now() / 1000) - 1 })).json()) as { data: Array<{ code: string }> }).data[0];
    expect((await p.call('POST', '/portal/redeem', { code: old.code })).json).toMatchObject({ error: { code: 'code_expired' } });
    for (const bad of [{ amount_usd: 0 }, { amount_usd: 1, count: 0 }, { amount_usd: 1, count: 5000 }, {}]) {
      expect((await gw.admin('POST', '/admin/redemption-codes', bad)).status, JSON.stringify(bad)).toBe(400);
    }
  });

  it('admin adjustments are ledger rows too, and the ledger still sums to the balance after spending', async () => {
    const u = await makeUser({ email: 'adjust@example.com', balance_usd: 1 });
    await gw.admin('POST', `/admin/users/${u.id}/balance`, { amount_usd: 2, note: 'top-up by bank transfer' });
    await gw.admin('POST', `/admin/users/${u.id}/balance`, { amount_usd: -0.5 });
    expect((await gw.admin('POST', `/admin/users/${u.id}/balance`, { amount_usd: 0 })).status).toBe(400);
    const { key } = await userKey(u.id as string);
    await ask(key);
    await gw.services.recorder.flush();
    const view = await json(await gw.admin('GET', `/admin/users/${u.id}`));
    expect(view.balance_usd).toBeCloseTo(2.5 - 0.02, 9);
    expect(await gw.services.users.ledgerSum(u.id as string)).toBeCloseTo(view.balance_usd as number, 9);
    const ledger = (await json(await gw.admin('GET', `/admin/users/${u.id}/ledger`))).data as Array<{ kind: string; note: string | null; actor: string }>;
    expect(ledger.find((e) => e.note === 'top-up by bank transfer')).toMatchObject({ kind: 'adjustment', actor: 'admin' });
  });
});

describe('portal', () => {
  it('sign-up (open), sign-in with an HttpOnly SameSite=Strict cookie, profile, sign-out', async () => {
    const p = portal();
    const up = await p.signUp('dana@example.com', 'password-1', { display_name: 'Dana' });
    expect(up.status).toBe(201);
    expect(up.json).toMatchObject({ email: 'dana@example.com', display_name: 'Dana', group: 'default', balance_usd: 0, price_factor: 1 });
    const cookie = up.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^sy_session=sys_[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    expect((await p.call('GET', '/portal/me')).json).toMatchObject({ email: 'dana@example.com' });
    // The table keeps the token's hash only.
    const token = decodeURIComponent(cookie.split(';')[0].split('=')[1]);
    expect(JSON.stringify(await gw.store.db.selectFrom('sessions').selectAll().execute())).not.toContain(token);
    expect((await p.call('POST', '/portal/sign-out')).status).toBe(200);
    expect((await p.call('GET', '/portal/me')).status).toBe(401);
    // The old token is dead server-side too.
    const replay = await fetch(`${gw.url}/portal/me`, { headers: { cookie: `sy_session=${token}` } });
    expect(replay.status).toBe(401);
    expect((await p.signIn('dana@example.com', 'password-1')).status).toBe(200);
    expect((await p.signUp('dana@example.com', 'password-2')).status).toBe(409);
    for (const bad of [{ email: 'x', password: 'password-1' }, { email: 'e@example.com', password: 'short' }, { email: 'e@example.com' }]) {
      expect((await portal().call('POST', '/portal/sign-up', bad)).status, JSON.stringify(bad)).toBe(400);
    }
    expect((await fetch(`${gw.url}/portal/me`, { headers: { cookie: 'sy_session=garbage' } })).status).toBe(401);
    // Behind a trusted proxy that terminated TLS, the cookie is Secure.
    const viaTls = await fetch(`${gw.url}/portal/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https', 'x-forwarded-for': '10.9.9.9' },
      body: JSON.stringify({ email: 'dana@example.com', password: 'password-1' }),
    });
    expect(viaTls.headers.get('set-cookie')).toMatch(/; Secure$/);
  });

  it('a wrong password and an unknown email answer alike; repeated failures are slowed down with 429 and retry-after', async () => {
    await portal().signUp('erin@example.com', 'password-1');
    const wrong = await portal().signIn('erin@example.com', 'nope-nope');
    const unknown = await portal().signIn('nobody@example.com', 'nope-nope');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.json).toEqual(unknown.json);
    // Per account: 3 failures (one above, two more from other addresses), then even the right password waits.
    await portal().signIn('erin@example.com', 'nope-nope');
    await portal().signIn('erin@example.com', 'nope-nope');
    const blocked = await portal().signIn('erin@example.com', 'password-1');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(blocked.json).toMatchObject({ error: { code: 'too_many_attempts' } });
    // Per address: one client guessing many accounts.
    const guesser = portal();
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await guesser.signIn(`guess${i}@example.com`, 'x')).status);
    expect(statuses.slice(0, 6)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(statuses.slice(6)).toEqual([429, 429]);
  });

  it('keys: the user makes, lists and deletes their own; the secret is shown once; the key is charged to their balance', async () => {
    const p = portal();
    await p.signUp('frank@example.com', 'password-1');
    const me = (await p.call('GET', '/portal/me')).json;
    await gw.admin('POST', `/admin/users/${me.id}/balance`, { amount_usd: 1 });
    const made = await p.call('POST', '/portal/keys', { name: 'laptop', models: ['gpt-4o-mini'] });
    expect(made.status).toBe(201);
    const secret = made.json.key as string;
    expect(secret).toMatch(/^sk-/);
    expect(made.json).toMatchObject({ name: 'laptop', user_id: me.id });
    const list = (await p.call('GET', '/portal/keys')).json as { data: Array<{ id: string; key?: string }> };
    expect(list.data.map((k) => k.id)).toEqual([made.json.id]);
    expect(JSON.stringify(list)).not.toContain(secret);
    await ask(secret);
    await ask(secret);
    const usage = (await p.call('GET', '/portal/usage?limit=1')).json as {
      totals: { requests: number; cost_usd: number };
      daily: Array<{ date: string; model: string; requests: number }>;
      requests: { data: Array<{ model: string }>; has_more: boolean; next_cursor: string };
    };
    expect(usage.totals).toMatchObject({ requests: 2, cost_usd: 0.04 });
    expect(usage.daily).toEqual([expect.objectContaining({ date: new Date().toISOString().slice(0, 10), model: 'gpt-4o-mini', requests: 2 })]);
    expect(usage.requests.data).toHaveLength(1);
    expect(usage.requests.has_more).toBe(true);
    const next = (await p.call('GET', `/portal/usage?limit=1&cursor=${usage.requests.next_cursor}`)).json as typeof usage;
    expect(next.requests.data).toHaveLength(1);
    expect(next.requests.has_more).toBe(false);
    expect((await p.call('GET', '/portal/usage?cursor=%%%')).status).toBe(400);
    expect((await p.call('POST', '/portal/keys', { name: 'x', user_id: 'user_other' })).status).toBe(400);
    expect((await p.call('DELETE', `/portal/keys/${made.json.id}`)).status).toBe(200);
    expect((await apiError(ask(secret))).status).toBe(401);
    expect((await new PortalClient(gw.url).call('GET', '/portal/keys')).status).toBe(401);
  });

  it('password change needs the old password and ends the other sessions', async () => {
    const a = portal();
    const b = portal();
    await a.signUp('gina@example.com', 'password-1');
    await b.signIn('gina@example.com', 'password-1');
    expect((await a.call('PATCH', '/portal/me', { password: 'password-2' })).status).toBe(400);
    expect((await a.call('PATCH', '/portal/me', { password: 'password-2', old_password: 'wrong-one' })).status).toBe(401);
    expect((await a.call('PATCH', '/portal/me', { password: 'password-2', old_password: 'password-1', display_name: 'G' })).json).toMatchObject({ display_name: 'G' });
    expect((await a.call('GET', '/portal/me')).status).toBe(200);
    expect((await b.call('GET', '/portal/me')).status).toBe(401);
    expect((await portal().signIn('gina@example.com', 'password-1')).status).toBe(401);
    expect((await portal().signIn('gina@example.com', 'password-2')).status).toBe(200);
  });

  it("one user never sees or touches another's keys, usage, files, batches or conversations: 404", async () => {
    const a = portal();
    const b = portal();
    await a.signUp('iso-a@example.com', 'password-1');
    await b.signUp('iso-b@example.com', 'password-1');
    for (const p of [a, b]) await gw.admin('POST', `/admin/users/${(await p.call('GET', '/portal/me')).json.id}/balance`, { amount_usd: 5 });
    const ka = (await a.call('POST', '/portal/keys', { name: 'a' })).json as { id: string; key: string };
    const kb = (await b.call('POST', '/portal/keys', { name: 'b' })).json as { id: string; key: string };
    await ask(ka.key);

    expect((await b.call('GET', `/portal/keys/${ka.id}`)).status).toBe(404);
    expect((await b.call('PATCH', `/portal/keys/${ka.id}`, { name: 'mine' })).status).toBe(404);
    expect((await b.call('DELETE', `/portal/keys/${ka.id}`)).status).toBe(404);
    expect(((await b.call('GET', '/portal/usage')).json as { totals: { requests: number } }).totals.requests).toBe(0);
    expect((await b.call('GET', '/portal/keys')).json.data).toHaveLength(1);

    const ca = clientFor(ka.key);
    const cb = clientFor(kb.key);
    const file = await ca.files.create({ file: new File(['{"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[]}}\n'], 'in.jsonl'), purpose: 'batch' });
    expect((await apiError(cb.files.retrieve(file.id))).status).toBe(404);
    expect((await apiError(cb.files.content(file.id))).status).toBe(404);
    expect((await apiError(cb.files.delete(file.id))).status).toBe(404);
    const batch = await ca.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    expect((await apiError(cb.batches.retrieve(batch.id))).status).toBe(404);
    expect((await apiError(cb.batches.cancel(batch.id))).status).toBe(404);
    const conv = (await (
      await fetch(`${gw.baseURL}/chat/conversation`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ka.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', content: 'hi' }),
      })
    ).json()) as { conversationId: string };
    const convId = conv.conversationId;
    expect(convId).toBeTruthy();
    const other = await fetch(`${gw.baseURL}/chat/conversations/${convId}`, { headers: { authorization: `Bearer ${kb.key}` } });
    expect(other.status).toBe(404);
    expect((await fetch(`${gw.baseURL}/chat/conversations/${convId}`, { headers: { authorization: `Bearer ${ka.key}` } })).status).toBe(200);

    // Midjourney tasks.
    const submitted = (await (
      await fetch(`${gw.url}/mj/submit/imagine`, { method: 'POST', headers: { 'mj-api-secret': ka.key, 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a cat' }) })
    ).json()) as { code: number; result: string };
    expect(submitted.code).toBe(1);
    const taskOf = (key: string) => fetch(`${gw.url}/mj/task/${submitted.result}/fetch`, { headers: { 'mj-api-secret': key } });
    expect((await taskOf(ka.key)).status).toBe(200);
    expect((await taskOf(kb.key)).status).toBe(404);
  });
});

describe('billing endpoints, pricing and the audit log', () => {
  it("a user's key reports the user's balance in the legacy subscription and usage shapes", async () => {
    const u = await makeUser({ email: 'billing@example.com', balance_usd: 3 });
    const { key } = await userKey(u.id as string);
    await ask(key);
    const headers = { authorization: `Bearer ${key}` };
    const sub = (await (await fetch(`${gw.baseURL}/dashboard/billing/subscription`, { headers })).json()) as Record<string, number>;
    expect(sub).toMatchObject({ object: 'billing_subscription', hard_limit_usd: 3, balance_usd: 2.98 });
    const usage = (await (await fetch(`${gw.baseURL}/dashboard/billing/usage?start_date=2020-01-01&end_date=2100-01-01`, { headers })).json()) as Record<string, number>;
    expect(usage.total_usage).toBeCloseTo(2, 9);
    expect(sub.hard_limit_usd - usage.total_usage / 100).toBeCloseTo(2.98, 9);
  });

  it('GET /v1/pricing lists each model at the caller group prices; public by default', async () => {
    const anon = (await (await fetch(`${gw.baseURL}/pricing`)).json()) as { group: string; data: Array<{ id: string; input_per_million: number; output_per_million: number }> };
    expect(anon.group).toBe('default');
    expect(anon.data.find((m) => m.id === 'gpt-4o-mini')).toMatchObject({ input_per_million: 1000, output_per_million: 2000 });
    const u = await makeUser({ email: 'pricing@example.com', group: 'vip' });
    const { key } = await userKey(u.id as string);
    const vip = (await (await fetch(`${gw.baseURL}/pricing`, { headers: { authorization: `Bearer ${key}` } })).json()) as typeof anon;
    expect(vip.group).toBe('vip');
    expect(vip.data.map((m) => m.id)).toEqual(['gpt-4o-mini']);
    expect(vip.data[0]).toMatchObject({ input_per_million: 800, output_per_million: 1600 });
    expect((await fetch(`${gw.baseURL}/pricing`, { headers: { authorization: 'Bearer sk-wrong' } })).status).toBe(401);
    gw.services.config.accounts.pricing_public = false;
    try {
      expect((await fetch(`${gw.baseURL}/pricing`)).status).toBe(401);
      expect((await fetch(`${gw.baseURL}/pricing`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    } finally {
      gw.services.config.accounts.pricing_public = true;
    }
  });

  it('the audit log says who changed which user, key, group, balance or upstream, and never a secret', async () => {
    const u = await makeUser({ email: 'audited@example.com', password: 'secret-password-1' });
    await gw.admin('POST', `/admin/users/${u.id}/balance`, { amount_usd: 4 });
    const k = await gw.createKey({ name: 'audited-key', user_id: u.id });
    await gw.admin('PATCH', `/admin/keys/${k.id}`, { rpm: 10 });
    await gw.admin('PUT', '/admin/groups/audited', { price_factor: 2 });
    expect((await gw.admin('POST', '/admin/upstreams/main/disable')).status).toBe(200);
    expect((await gw.admin('POST', '/admin/upstreams/main/enable')).status).toBe(200);
    await fetch(`${gw.url}/admin/users`, { method: 'POST', headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' }, body: '{}' });
    const log = (await json(await gw.admin('GET', '/admin/audit?limit=20'))).data as Array<{ action: string; target_id: string; actor: string; status: number; detail: unknown }>;
    const actions = log.map((e) => `${e.action} ${e.target_id ?? ''} ${e.status}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        `users.create ${u.id} 201`,
        `users.balance ${u.id} 200`,
        `keys.create ${k.id} 201`,
        `keys.update ${k.id} 200`,
        'groups.put audited 200',
        'upstreams.disable main 200',
        'upstreams.enable main 200',
        'users.create  401',
      ]),
    );
    expect(log.find((e) => e.action === 'users.balance')).toMatchObject({ actor: 'admin (key)', detail: { amount_usd: 4 } });
    expect(log.find((e) => e.status === 401)?.actor).toBe('unauthenticated');
    expect(JSON.stringify(log)).not.toContain('secret-password-1');
    expect(JSON.stringify(log)).not.toContain(k.key);
    const forUser = (await json(await gw.admin('GET', `/admin/audit?target_type=users&target_id=${u.id}`))).data as unknown[];
    expect(forUser).toHaveLength(2);
    const page1 = await json(await gw.admin('GET', '/admin/audit?limit=2'));
    const page2 = await json(await gw.admin('GET', `/admin/audit?limit=2&before=${page1.last_id}`));
    expect((page2.data as Array<{ id: string }>)[0].id < (page1.last_id as string)).toBe(true);
    expect((await gw.admin('GET', '/admin/audit?limit=0')).status).toBe(400);
  });
});

describe('sign-up modes', () => {
  it('closed refuses, invite needs a single-use code', async () => {
    gw.services.config.accounts.signup = 'closed';
    try {
      expect((await portal().signUp('closed@example.com', 'password-1')).json).toMatchObject({ error: { code: 'signup_closed' } });
      gw.services.config.accounts.signup = 'invite';
      expect((await portal().signUp('inv@example.com', 'password-1')).status).toBe(400);
      expect((await portal().signUp('inv@example.com', 'password-1', { invite_code: 'INV-BOGUS' })).json).toMatchObject({ error: { code: 'invalid_invite' } });
      const invites = ((await (await gw.admin('POST', '/admin/invites', { count: 1, note: 'for Ivy' })).json()) as { data: Array<{ id: string; code: string }> }).data;
      const ok = await portal().signUp('inv@example.com', 'password-1', { invite_code: invites[0].code });
      expect(ok.status).toBe(201);
      const again = await portal().signUp('inv2@example.com', 'password-1', { invite_code: invites[0].code });
      expect(again.status).toBe(400);
      const listed = (await json(await gw.admin('GET', '/admin/invites'))).data as Array<{ id: string; status: string; used_by: string }>;
      expect(listed.find((i) => i.id === invites[0].id)).toMatchObject({ status: 'used', used_by: ok.json.id });
      expect(JSON.stringify(listed)).not.toContain(invites[0].code);
    } finally {
      gw.services.config.accounts.signup = 'open';
    }
  });
});

describe('review fixes: ids, throttle races, origins, audit size, admin key rotation', () => {
  it("a client's x-request-id never decides the usage record: reused, every request is still recorded and charged", async () => {
    const u = await makeUser({ email: 'reuse-id@example.com', balance_usd: 1 });
    const { key } = await userKey(u.id as string);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': 'fixed-id' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 }),
      });
      expect(res.status).toBe(200);
      ids.push(res.headers.get('x-request-id') ?? '');
    }
    expect(new Set(ids).size).toBe(3);
    expect(ids).not.toContain('fixed-id');
    await gw.services.recorder.flush();
    const view = await json(await gw.admin('GET', `/admin/users/${u.id}`));
    expect(view.spent_usd).toBeCloseTo(0.06, 9);
    const row = await gw.store.db.selectFrom('users').selectAll().where('id', '=', u.id as string).executeTakeFirstOrThrow();
    expect(Number(row.spent_usd)).toBeCloseTo(0.06, 9);
  });

  it('parallel wrong passwords for one account: no more get checked than the limit, the rest wait (429)', async () => {
    await portal().signUp('parallel@example.com', 'password-1');
    const results = await Promise.all(Array.from({ length: 20 }, () => portal().signIn('parallel@example.com', 'wrong-guess')));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((x) => x === 401).length).toBeLessThanOrEqual(3);
    expect(statuses.filter((x) => x === 429).length).toBeGreaterThanOrEqual(17);
  });

  it('the same email signed up twice at the same moment: one 201, the other 409, never a 500', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => portal().signUp('race@example.com', 'password-1')));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409]);
  });

  it('portal writes from another origin are refused (403); this site, or the host a trusted proxy forwards, passes', async () => {
    const p = portal();
    await p.signUp('origin@example.com', 'password-1');
    const post = (headers: Record<string, string>) =>
      fetch(`${gw.url}/portal/keys`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: p.cookie ?? '', ...headers }, body: JSON.stringify({ name: 'o' }) });
    const cross = await post({ origin: 'https://evil.example.com' });
    expect(cross.status).toBe(403);
    expect(((await cross.json()) as { error: { code: string } }).error.code).toBe('cross_origin');
    expect((await post({ origin: gw.url })).status).toBe(201);
    expect((await post({ origin: 'https://relay.example.com', 'x-forwarded-host': 'relay.example.com' })).status).toBe(201);
    expect((await post({ origin: 'https://relay.example.com', 'x-forwarded-host': 'other.example.com' })).status).toBe(403);
    expect((await p.call('GET', '/portal/keys')).status).toBe(200);
  });

  it('the audit log keeps no body of an unauthenticated or public call, and cuts long values', async () => {
    await fetch(`${gw.url}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ admin_key: 'x', pad: 'y'.repeat(100_000) }) });
    const u = await makeUser({ email: 'long@example.com' });
    await gw.admin('PATCH', `/admin/users/${u.id}`, { display_name: 'n'.repeat(200), note: 'z'.repeat(499) + 'zz' });
    const rows = await gw.store.db.selectFrom('audit_log').selectAll().orderBy('at', 'desc').limit(5).execute();
    const session = rows.find((r) => r.action === 'session.create');
    expect(session?.detail).toBeNull();
    const patch = rows.find((r) => r.action === 'users.update' && r.target_id === u.id);
    expect(patch?.detail).toContain('[501 chars]');
    for (const r of rows) expect((r.detail ?? '').length).toBeLessThanOrEqual(8192);
  });

  it('an admin session ends when the admin key it was made with is replaced', async () => {
    const signIn = await fetch(`${gw.url}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ admin_key: gw.adminKey }) });
    expect(signIn.status).toBe(200);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0];
    expect((await fetch(`${gw.url}/admin/users?limit=1`, { headers: { cookie } })).status).toBe(200);
    const services = gw.services as { adminKeyHash: string | undefined };
    const before = services.adminKeyHash;
    services.adminKeyHash = 'f'.repeat(64);
    try {
      expect((await fetch(`${gw.url}/admin/users?limit=1`, { headers: { cookie } })).status).toBe(401);
    } finally {
      services.adminKeyHash = before;
    }
  });

  it('invites page with after', async () => {
    await gw.admin('POST', '/admin/invites', { count: 3 });
    const first = await json(await gw.admin('GET', '/admin/invites?limit=2'));
    expect(first.has_more).toBe(true);
    const next = await json(await gw.admin('GET', `/admin/invites?limit=2&after=${first.last_id}`));
    expect((next.data as unknown[]).length).toBeGreaterThan(0);
    expect((await gw.admin('GET', '/admin/invites?after=inv_missing')).status).toBe(400);
  });
});

describe('other spellings of the same fields', () => {
  it('users take balance, name and disabled; groups can be made with POST and changed with PATCH; codes take amount; redeem takes key', async () => {
    const u = await makeUser({ email: 'alias@example.com', name: 'Al', balance: 2 });
    expect(u).toMatchObject({ display_name: 'Al', balance_usd: 2, balance: 2 });
    expect(await json(await gw.admin('PATCH', `/admin/users/${u.id}`, { disabled: true, balance: 3 }))).toMatchObject({ status: 'disabled', balance: 3 });
    expect(await json(await gw.admin('PATCH', `/admin/users/${u.id}`, { disabled: false }))).toMatchObject({ status: 'active' });

    const made = await gw.admin('POST', '/admin/groups', { name: 'posted', price_factor: 0.5, models: ['gpt-4o-mini'] });
    expect(made.status).toBe(201);
    expect((await gw.admin('POST', '/admin/groups', { name: 'posted', price_factor: 1 })).status).toBe(409);
    expect((await gw.admin('POST', '/admin/groups', { name: 'vip', price_factor: 1 })).status).toBe(409);
    expect(await json(await gw.admin('PATCH', '/admin/groups/posted', { price_factor: 0.7 }))).toMatchObject({ name: 'posted', price_factor: 0.7, models: ['gpt-4o-mini'] });
    expect((await gw.admin('PATCH', '/admin/groups/missing', { price_factor: 0.7 })).status).toBe(404);

    const codes = ((await (await gw.admin('POST', '/admin/redemption-codes', { amount: 1.5, count: 1 })).json()) as { data: Array<{ code: string; amount_usd: number }> }).data;
    expect(codes[0].amount_usd).toBe(1.5);
    const p = portal();
    await p.signUp('alias-redeem@example.com', 'password-1');
    expect((await p.call('POST', '/portal/redeem', { key: codes[0].code })).json).toMatchObject({ amount_usd: 1.5, balance_usd: 1.5 });
    expect((await p.call('POST', '/portal/redeem', {})).status).toBe(400);
  });
});

describe('refreshing many cached keys', () => {
  it('reads their users in one query per 500, not one per key', async () => {
    const made = await Promise.all(Array.from({ length: 30 }, (_, i) => makeUser({ email: `bulk${i}@example.com`, balance_usd: 1 })));
    const keys = await Promise.all(made.map((u) => userKey(u.id as string)));
    for (const k of keys) await ask(k.key);
    // As after a quiet spell: every cached user older than its lifetime.
    for (const e of (gw.services.users as unknown as { cache: Map<string, { loadedAt: number }> }).cache.values()) e.loadedAt = 0;
    const repo = gw.services.users.repo;
    const original = repo.findByIds.bind(repo);
    const asked: number[] = [];
    repo.findByIds = (ids) => {
      asked.push(ids.length);
      return original(ids);
    };
    try {
      await gw.services.keys.refreshAll();
    } finally {
      repo.findByIds = original;
    }
    expect(asked.length).toBe(1);
    expect(asked[0]).toBeGreaterThanOrEqual(30);
  });
});
