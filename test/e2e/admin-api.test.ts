/**
 * The admin API the dashboard uses, end to end over real HTTP on SQLite: sessions (cookie sign-in,
 * sign-out, expiry), the OpenAPI document built from the routes' schemas, key search and pages,
 * usage aggregates and the request log after real traffic from the official OpenAI client,
 * upstream tests, and the cross-key lists. Every route: wrong key 401, bad input 400, unknown 404,
 * and no key hash or upstream credential in any answer.
 */
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenAISimulator, startOpenAISimulator } from '../helpers/openai-simulator.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

const UPSTREAM_KEY = 'sk-upstream-secret-admin-api-777777';
type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

let sim: OpenAISimulator;
let gw: TestGateway;
/** Every answer body seen, checked at the end for secrets. */
const seen: string[] = [];

async function call(path: string, init: { method?: string; body?: unknown; cookie?: string; auth?: string | null; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.auth !== null) headers.authorization = `Bearer ${init.auth ?? gw.adminKey}`;
  if (init.cookie) headers.cookie = init.cookie;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${gw.url}${path}`, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await res.text();
  seen.push(text);
  const isJson = (res.headers.get('content-type') ?? '').includes('json');
  return { status: res.status, headers: res.headers, text, json: text && isJson ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const get = <T = Record<string, unknown>>(path: string) => call(path).then((r) => ({ ...r, body: r.json as T }));

function expectError(r: { status: number; json: Record<string, unknown> }, status: number, param?: string): ErrorBody['error'] {
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  const err = (r.json as ErrorBody).error;
  expect(err.type).toBeTruthy();
  expect(typeof err.message).toBe('string');
  if (param !== undefined) expect(err.param).toBe(param);
  return err;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let alice: { key: string; id: string };
let bob: { key: string; id: string };

beforeAll(async () => {
  sim = await startOpenAISimulator({ apiKey: UPSTREAM_KEY });
  sim.handler = () => ({ type: 'text', text: 'hello there', promptTokens: 7, completionTokens: 3 });
  gw = await startTestGateway({
    retry: { attempts: 1, backoff_ms: 0 },
    upstreams: [
      { name: 'main', type: 'openai', base_url: sim.url, api_key: UPSTREAM_KEY, models: ['gpt-4o-mini', 'gpt-4o'] },
      // Nothing listens there: every call fails before an answer.
      { name: 'down', type: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: 'sk-down-secret-88888888', models: ['down-model'] },
    ],
    models: { 'gpt-4o-mini': { input_price: 1, output_price: 2 }, 'gpt-4o': { input_price: 5, output_price: 10 } },
    admin_session_ttl_minutes: 60,
  });
  alice = await gw.createKey({ name: 'Alice laptop' });
  bob = await gw.createKey({ name: 'bob-server', quota_tokens: 5 });
  const a = new OpenAI({ baseURL: gw.baseURL, apiKey: alice.key, maxRetries: 0 });
  const b = new OpenAI({ baseURL: gw.baseURL, apiKey: bob.key, maxRetries: 0 });
  for (let i = 0; i < 3; i++) await a.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  const stream = await a.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
  for await (const _ of stream) void _;
  await b.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  await expect(a.chat.completions.create({ model: 'down-model', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 502 });
  await a.files.create({ file: await toFile(Buffer.from('{"a":1}\n'), 'data.jsonl'), purpose: 'batch' });
  await b.files.create({ file: await toFile(Buffer.from('{"b":2}\n'), 'other.jsonl'), purpose: 'batch' });
  await gw.services.recorder.flush();
});

afterAll(async () => {
  await gw?.close();
  await sim?.close();
});

describe('admin sessions', () => {
  it('trades the admin key for an HttpOnly SameSite=Strict cookie that opens every admin route; sign-out ends it', async () => {
    const signIn = await call('/admin/session', { method: 'POST', body: { admin_key: gw.adminKey }, auth: null });
    expect(signIn.status).toBe(200);
    const cookie = signIn.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^sy_admin=[^;]+; /);
    for (const attr of ['HttpOnly', 'SameSite=Strict', 'Path=/']) expect(cookie).toContain(attr);
    expect(cookie).not.toContain('Secure'); // plain http here
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)?.[1]);
    expect(maxAge).toBeGreaterThan(3590);
    expect(maxAge).toBeLessThanOrEqual(3600);
    expect(signIn.json).toEqual({ object: 'admin_session', expires_at: expect.any(Number) });
    expect(signIn.json.expires_at as number).toBeCloseTo(Date.now() / 1000 + 3600, -1);
    expect(signIn.text).not.toContain(gw.adminKey);

    const jar = cookie.split(';')[0];
    const me = await call('/admin/session', { cookie: jar, auth: null });
    expect(me.json).toEqual(signIn.json);
    expect((await call('/admin/keys', { cookie: jar, auth: null })).status).toBe(200);
    expect((await call('/admin/usage', { cookie: jar, auth: null })).status).toBe(200);
    expect((await call('/admin/openapi.json', { cookie: jar, auth: null })).status).toBe(200);
    expect((await call('/metrics', { cookie: jar, auth: null })).status).toBe(200);
    // A write with the cookie from another site's page is refused, the same from the dashboard's origin passes.
    const foreign = await call(`/admin/keys/${alice.id}`, { method: 'PATCH', body: { rpm: 100 }, cookie: jar, auth: null, headers: { origin: 'https://evil.example' } });
    expectError(foreign, 403);
    const own = await call(`/admin/keys/${alice.id}`, { method: 'PATCH', body: { rpm: 100 }, cookie: jar, auth: null, headers: { origin: gw.url } });
    expect(own.status).toBe(200);

    const out = await call('/admin/session', { method: 'DELETE', cookie: jar, auth: null });
    expect(out.status).toBe(200);
    expect(out.json).toEqual({ object: 'admin_session', deleted: true });
    expect(out.headers.get('set-cookie')).toMatch(/^sy_admin=; .*Max-Age=0/);
    // Revoked server-side: the old cookie no longer works, whoever still holds it.
    const after = await call('/admin/keys', { cookie: jar, auth: null });
    expect(expectError(after, 401).code).toBe('session_expired');
    expectError(await call('/admin/session', { cookie: jar, auth: null }), 401);
  });

  it('with the admin key as Bearer, GET /admin/session answers a session that does not expire', async () => {
    expect((await call('/admin/session')).json).toEqual({ object: 'admin_session', expires_at: null });
  });

  it('401 for a wrong key, no credentials, a forged cookie, or a wrong Bearer beside a good cookie; 400 for a bad body', async () => {
    const wrong = await call('/admin/session', { method: 'POST', body: { admin_key: 'sk-nope' }, auth: null });
    expect(expectError(wrong, 401, 'admin_key').message).toMatch(/admin key/i);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    // A user key is not the admin key.
    expectError(await call('/admin/session', { method: 'POST', body: { admin_key: alice.key }, auth: null }), 401);
    expectError(await call('/admin/session', { method: 'POST', body: {}, auth: null }), 400, 'admin_key');
    expectError(await call('/admin/session', { method: 'POST', body: { admin_key: 42 }, auth: null }), 400, 'admin_key');
    expectError(await call('/admin/session', { method: 'POST', body: { admin_key: gw.adminKey, extra: 1 }, auth: null }), 400);
    expectError(await call('/admin/session', { method: 'POST', auth: null }), 400);
    expectError(await call('/admin/keys', { auth: null }), 401);
    expectError(await call('/admin/keys', { auth: null, cookie: 'sy_admin=sys_forged' }), 401);
    const good = (await call('/admin/session', { method: 'POST', body: { admin_key: gw.adminKey }, auth: null })).headers.get('set-cookie')!.split(';')[0];
    expectError(await call('/admin/keys', { auth: 'sk-wrong', cookie: good }), 401);
    expect((await call('/admin/keys', { auth: null, cookie: good })).status).toBe(200);
  });

  it('an expired session answers 401 (admin_session_ttl_minutes)', async () => {
    const short = await startTestGateway({ admin_session_ttl_minutes: 0.005 }); // 300 ms
    try {
      const res = await fetch(`${short.url}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ admin_key: short.adminKey }) });
      const jar = res.headers.get('set-cookie')!.split(';')[0];
      expect((await fetch(`${short.url}/admin/keys`, { headers: { cookie: jar } })).status).toBe(200);
      await sleep(400);
      const late = await fetch(`${short.url}/admin/keys`, { headers: { cookie: jar } });
      expect(late.status).toBe(401);
      expect(((await late.json()) as ErrorBody).error.code).toBe('session_expired');
      expect((await fetch(`${short.url}/admin/session`, { headers: { cookie: jar } })).status).toBe(401);
    } finally {
      await short.close();
    }
  });
});

describe('GET /admin/openapi.json', () => {
  type Doc = {
    openapi: string;
    info: { title: string; version: string };
    paths: Record<string, Record<string, { operationId: string; summary: string; tags: string[]; parameters: Array<{ name: string; in: string; required: boolean; schema: Record<string, unknown> }>; requestBody?: { content: Record<string, { schema: Record<string, unknown> }> }; responses: Record<string, unknown>; security?: unknown[]; 'x-undocumented'?: boolean }>>;
    components: { securitySchemes: Record<string, unknown> };
  };

  it('is an OpenAPI 3.1 document of every admin route, with the schemas that validate them; it needs the admin key', async () => {
    expectError(await call('/admin/openapi.json', { auth: null }), 401);
    const { status, body: doc } = await get<Doc>('/admin/openapi.json');
    expect(status).toBe(200);
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBeTruthy();
    expect(doc.components.securitySchemes).toHaveProperty('adminKey');
    expect(doc.components.securitySchemes).toHaveProperty('adminSession');
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([m, op]) => ({ key: `${m.toUpperCase()} ${path}`, op })));
    const keys = ops.map((o) => o.key);
    const mine = [
      'POST /admin/session', 'GET /admin/session', 'DELETE /admin/session', 'GET /admin/openapi.json',
      'POST /admin/keys', 'GET /admin/keys', 'GET /admin/keys/{id}', 'PATCH /admin/keys/{id}', 'DELETE /admin/keys/{id}', 'GET /admin/keys/{id}/usage',
      'GET /admin/usage', 'GET /admin/requests', 'GET /admin/requests/{request_id}',
      'GET /admin/batches', 'GET /admin/files', 'GET /admin/conversations', 'GET /admin/mj/tasks',
      'GET /admin/upstreams', 'POST /admin/upstreams', 'GET /admin/upstreams/{name}', 'PATCH /admin/upstreams/{name}', 'DELETE /admin/upstreams/{name}',
      'POST /admin/upstreams/{name}/enable', 'POST /admin/upstreams/{name}/disable', 'POST /admin/upstreams/{name}/test',
    ];
    for (const k of mine) expect(keys, k).toContain(k);
    for (const { key, op } of ops) {
      expect(op.operationId, key).toMatch(/^[a-z][A-Za-z0-9]+$/);
      expect(op.responses, key).toHaveProperty('401');
      // Every path parameter is declared and required.
      for (const name of key.matchAll(/\{([^}]+)\}/g)) expect(op.parameters.find((p) => p.name === name[1] && p.in === 'path')?.required, key).toBe(true);
    }
    expect(new Set(ops.map((o) => o.op.operationId)).size).toBe(ops.length);
    // Every operation listed is a real route (none answers unknown_url).
    for (const key of keys) {
      const [method, path] = key.split(' ');
      // Reads only, and writes that cannot succeed (an unknown id, an empty body): nothing is changed.
      if (method !== 'GET' && !/\{[^}]+\}/.test(path) && path !== '/admin/keys' && path !== '/admin/upstreams') continue;
      const r = await call(path.replace(/\{[^}]+\}/g, 'x-unknown'), { method, body: method === 'GET' || method === 'DELETE' ? undefined : {} });
      expect((r.json as ErrorBody).error?.code ?? null, key).not.toBe('unknown_url');
    }
    const find = (k: string) => ops.find((o) => o.key === k)!.op;
    // The schemas are the validators': the key body's fields, the log's query, the public sign-in.
    const createBody = find('POST /admin/keys').requestBody!.content['application/json'].schema as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(createBody.properties)).toEqual(expect.arrayContaining(['name', 'quota_tokens', 'quota_usd', 'expires_at', 'models', 'rpm', 'tpm', 'allowed_ips']));
    expect(createBody.required).toContain('name');
    const logParams = find('GET /admin/requests').parameters;
    expect(logParams.map((p) => p.name)).toEqual(['start', 'end', 'key_id', 'model', 'upstream', 'status', 'limit', 'cursor']);
    expect(logParams.find((p) => p.name === 'limit')!.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 500 });
    expect(find('GET /admin/usage').parameters.find((p) => p.name === 'interval')!.schema).toMatchObject({ enum: ['hour', 'day'] });
    expect(find('POST /admin/session').security).toEqual([]);
    expect(find('GET /admin/keys').responses['200']).toHaveProperty('content');
  });
});

type KeyList = { object: string; data: Array<{ id: string; name: string; status: string }>; has_more: boolean; last_id: string | null };

describe('GET /admin/keys: search and pages', () => {
  it('without parameters lists every key as before (oldest first, one answer)', async () => {
    const { body } = await get<KeyList>('/admin/keys');
    expect(body.object).toBe('list');
    expect(body.has_more).toBe(false);
    expect(body.data.map((k) => k.id)).toEqual(expect.arrayContaining([alice.id, bob.id]));
    const ids = body.data.map((k) => k.id);
    expect(ids.indexOf(alice.id)).toBeLessThan(ids.indexOf(bob.id));
  });

  it('searches by name (any case), id and masked key; filters by status; pages with limit and after', async () => {
    expect((await get<KeyList>('/admin/keys?search=alice')).body.data.map((k) => k.id)).toEqual([alice.id]);
    expect((await get<KeyList>(`/admin/keys?search=${bob.id}`)).body.data.map((k) => k.id)).toEqual([bob.id]);
    expect((await get<KeyList>(`/admin/keys?search=${encodeURIComponent(alice.key.slice(0, 6))}`)).body.data.length).toBeGreaterThanOrEqual(1);
    // LIKE wildcards in the search are literal.
    expect((await get<KeyList>('/admin/keys?search=%25')).body.data).toEqual([]);
    // bob spent more than his 5-token quota.
    expect((await get<KeyList>('/admin/keys?status=exhausted')).body.data.map((k) => k.id)).toEqual([bob.id]);
    const disabled = await gw.createKey({ name: 'off', disabled: true });
    const expired = await gw.createKey({ name: 'old', expires_at: Math.floor(Date.now() / 1000) - 5 });
    expect((await get<KeyList>('/admin/keys?status=disabled')).body.data.map((k) => k.id)).toEqual([disabled.id]);
    expect((await get<KeyList>('/admin/keys?status=expired')).body.data.map((k) => k.id)).toEqual([expired.id]);
    const active = (await get<KeyList>('/admin/keys?status=active')).body.data.map((k) => k.id);
    expect(active).toContain(alice.id);
    expect(active).not.toContain(bob.id);
    expect(active).not.toContain(disabled.id);

    const all = (await get<KeyList>('/admin/keys?order=desc')).body.data.map((k) => k.id);
    const paged: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 10; i++) {
      const page: KeyList = (await get<KeyList>(`/admin/keys?order=desc&limit=2${after ? `&after=${after}` : ''}`)).body;
      paged.push(...page.data.map((k) => k.id));
      expect(page.data.length).toBeLessThanOrEqual(2);
      if (!page.has_more) break;
      after = page.last_id;
    }
    expect(paged).toEqual(all);
  });

  it('400 naming the parameter for bad values and unknown parameters; 401 without the admin key', async () => {
    for (const [q, param] of [['limit=0', 'limit'], ['limit=501', 'limit'], ['limit=ten', 'limit'], ['status=gone', 'status'], ['order=up', 'order'], ['bogus=1', 'bogus']] as const) {
      const err = expectError(await call(`/admin/keys?${q}`), 400, param);
      expect(err.message).toContain(param);
    }
    expectError(await call('/admin/keys', { auth: 'sk-wrong' }), 401);
    expectError(await call(`/admin/keys/${alice.id}/usage`, { auth: 'sk-wrong' }), 401);
  });

  it('never shows a key hash', async () => {
    const rows = await gw.store.db.selectFrom('api_keys').select(['key_hash']).execute();
    const body = (await call('/admin/keys')).text + (await call(`/admin/keys/${alice.id}`)).text;
    for (const r of rows) expect(body).not.toContain(r.key_hash);
    expect(body).not.toContain(alice.key);
  });
});

type Report = {
  object: string;
  interval: string | null;
  totals: { requests: number; errors: number; prompt_tokens: number; completion_tokens: number; total_tokens: number; cost_usd: number; avg_latency_ms: number | null; p95_latency_ms: number | null };
  data: Array<{ bucket: number | null; group: string | null; key_name?: string | null; requests: number; errors: number; total_tokens: number; cost_usd: number }>;
};

describe('GET /admin/usage', () => {
  it('aggregates the usage log by hour and model, matching the records', async () => {
    const records = await gw.store.db.selectFrom('usage_records').selectAll().execute();
    const { status, body } = await get<Report>('/admin/usage?interval=hour&group_by=model');
    expect(status).toBe(200);
    expect(body.object).toBe('usage_report');
    const charged = records.filter((r) => r.charged === 1);
    expect(body.totals.requests).toBe(records.length);
    expect(body.totals.errors).toBe(records.filter((r) => r.status >= 400).length);
    expect(body.totals.errors).toBeGreaterThanOrEqual(1);
    expect(body.totals.total_tokens).toBe(charged.reduce((n, r) => n + Number(r.total_tokens), 0));
    expect(body.totals.cost_usd).toBeCloseTo(charged.reduce((n, r) => n + Number(r.cost_usd), 0), 9);
    expect(body.totals.avg_latency_ms).not.toBeNull();
    expect(body.totals.p95_latency_ms).toBe(100);
    const byModel = (m: string) => body.data.filter((d) => d.group === m).reduce((n, d) => n + d.requests, 0);
    expect(byModel('gpt-4o-mini')).toBe(records.filter((r) => r.model === 'gpt-4o-mini').length);
    expect(byModel('gpt-4o')).toBe(2);
    expect(byModel('down-model')).toBe(1);
    const hour = Math.floor(Date.now() / 3_600_000) * 3600;
    expect(body.data.every((d) => d.bucket === hour || d.bucket === hour - 3600)).toBe(true);
  });

  it('groups by key (with names), upstream and endpoint; days start at the offset asked', async () => {
    const byKey = (await get<Report>('/admin/usage?interval=day&group_by=key')).body;
    const aliceRow = byKey.data.find((d) => d.group === alice.id)!;
    expect(aliceRow.key_name).toBe('Alice laptop');
    expect(aliceRow.requests).toBe(5);
    const byUpstream = (await get<Report>('/admin/usage?group_by=upstream')).body;
    expect(byUpstream.data.find((d) => d.group === 'down')).toMatchObject({ requests: 1, errors: 1, total_tokens: 0 });
    const shanghai = (await get<Report>('/admin/usage?interval=day&tz_offset_minutes=480')).body;
    for (const d of shanghai.data) expect(((d.bucket! + 8 * 3600) % 86_400)).toBe(0);
    const filtered = (await get<Report>(`/admin/usage?key_id=${bob.id}&model=gpt-4o`)).body;
    expect(filtered.totals.requests).toBe(1);
    const none = (await get<Report>('/admin/usage?start=2001-01-01&end=2001-01-02')).body;
    expect(none.totals.requests).toBe(0);
    expect(none.data).toEqual([]);
  });

  it('400 for a bad interval, grouping, time, a reversed range or too many buckets', async () => {
    expectError(await call('/admin/usage?interval=week'), 400, 'interval');
    expectError(await call('/admin/usage?group_by=colour'), 400, 'group_by');
    expectError(await call('/admin/usage?start=yesterday-ish'), 400, 'start');
    expectError(await call('/admin/usage?start=2030-01-01&end=2029-01-01'), 400, 'start');
    expectError(await call('/admin/usage?interval=hour&start=2000-01-01'), 400, 'start');
    expectError(await call('/admin/usage?tz_offset_minutes=9999'), 400, 'tz_offset_minutes');
  });
});

describe('GET /admin/keys/{id}/usage', () => {
  it("one key's usage per day and per model; 404 for an unknown key", async () => {
    const days = (await get<Report>(`/admin/keys/${alice.id}/usage`)).body;
    expect(days.interval).toBe('day');
    expect(days.totals.requests).toBe(5);
    const models = (await get<Report>(`/admin/keys/${alice.id}/usage?group_by=model`)).body;
    expect(models.data.map((d) => d.group).sort()).toEqual(['down-model', 'gpt-4o', 'gpt-4o-mini']);
    expect(models.data.find((d) => d.group === 'gpt-4o-mini')!.requests).toBe(3);
    const hours = (await get<Report>(`/admin/keys/${alice.id}/usage?group_by=hour&start=${Math.floor(Date.now() / 1000) - 7200}`)).body;
    expect(hours.totals.requests).toBe(5);
    expectError(await call('/admin/keys/key_missing/usage'), 404, 'id');
    expectError(await call(`/admin/keys/${alice.id}/usage?group_by=week`), 400, 'group_by');
  });
});

type Log = { object: string; data: Array<{ request_id: string; key_id: string | null; key_name: string | null; model: string; upstream: string | null; status: number; created_at: number; total_tokens: number; stream: boolean }>; has_more: boolean; next_cursor: string | null };

describe('GET /admin/requests', () => {
  it('pages the whole log newest first with a stable cursor', async () => {
    const rows = await gw.store.db.selectFrom('usage_records').select(['request_id', 'created_at']).orderBy('created_at', 'desc').orderBy('request_id', 'desc').execute();
    const ids: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 20; i++) {
      const page: Log = (await get<Log>(`/admin/requests?limit=2${cursor ? `&cursor=${cursor}` : ''}`)).body;
      ids.push(...page.data.map((r) => r.request_id));
      if (!page.has_more) {
        expect(page.next_cursor).toBeNull();
        break;
      }
      cursor = page.next_cursor;
    }
    expect(ids).toEqual(rows.map((r) => r.request_id));
    const first = (await get<Log>('/admin/requests')).body.data[0];
    expect(first).toMatchObject({ object: 'request', key_name: expect.any(String) });
  });

  it('filters by key, model, upstream, status and time', async () => {
    const byKey = (await get<Log>(`/admin/requests?key_id=${bob.id}`)).body.data;
    expect(byKey.map((r) => r.key_id)).toEqual([bob.id]);
    expect(byKey[0].key_name).toBe('bob-server');
    expect((await get<Log>('/admin/requests?model=gpt-4o')).body.data.map((r) => r.model)).toEqual(['gpt-4o', 'gpt-4o']);
    const errors = (await get<Log>('/admin/requests?status=error')).body.data;
    expect(errors.map((r) => [r.upstream, r.status])).toEqual([['down', 502]]);
    expect((await get<Log>('/admin/requests?status=502')).body.data).toHaveLength(1);
    expect((await get<Log>('/admin/requests?status=ok')).body.data.every((r) => r.status < 400)).toBe(true);
    expect((await get<Log>('/admin/requests?upstream=down&status=200')).body.data).toEqual([]);
    expect((await get<Log>('/admin/requests?end=2001-01-01')).body.data).toEqual([]);
    expect((await get<Log>(`/admin/requests?key_id=${alice.id}&model=gpt-4o`)).body.data[0].stream).toBe(true);
  });

  it('GET /admin/requests/{id} is one record; 404 for an unknown one; 400 for a bad cursor, status or limit', async () => {
    const [first] = (await get<Log>('/admin/requests?limit=1')).body.data;
    const one = await get<Log['data'][number] & { attempts: number }>(`/admin/requests/${first.request_id}`);
    expect(one.body).toMatchObject({ request_id: first.request_id, model: first.model, attempts: 1 });
    expectError(await call('/admin/requests/req_nothing_here'), 404, 'request_id');
    expectError(await call('/admin/requests?cursor=garbage'), 400, 'cursor');
    expectError(await call('/admin/requests?status=teapot'), 400, 'status');
    expectError(await call('/admin/requests?limit=1000'), 400, 'limit');
    expectError(await call('/admin/requests', { auth: 'sk-wrong' }), 401);
  });
});

describe('upstreams: health and tests', () => {
  type Up = { name: string; state: string; recent: { requests: number; errors: number; error_rate: number; latency_avg_ms: number | null; latency_p95_ms: number | null; total_requests: number } };

  it('lists health, error rate and latency from the traffic so far', async () => {
    const list = (await get<{ data: Up[] }>('/admin/upstreams')).body.data;
    const main = list.find((u) => u.name === 'main')!;
    expect(main.recent.requests).toBe(5);
    expect(main.recent.errors).toBe(0);
    expect(main.recent.latency_avg_ms).not.toBeNull();
    const down = list.find((u) => u.name === 'down')!;
    expect(down.recent).toMatchObject({ requests: 1, errors: 1, error_rate: 1, total_requests: 1 });
  });

  it('POST /test sends one real request and reports status, latency and output, or the error', async () => {
    const before = sim.requests.length;
    const ok = await call('/admin/upstreams/main/test', { method: 'POST' });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ object: 'upstream_test', upstream: 'main', ok: true, model: 'gpt-4o-mini', credential: 'main#1', status: 200, output: 'hello there', error: null });
    expect(ok.json.latency_ms).toEqual(expect.any(Number));
    expect(sim.requests.length).toBe(before + 1);
    expect(sim.requests.at(-1)!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    const named = await call('/admin/upstreams/main/test', { method: 'POST', body: { model: 'gpt-4o' } });
    expect(named.json).toMatchObject({ ok: true, model: 'gpt-4o' });
    const down = await call('/admin/upstreams/down/test', { method: 'POST', body: {} });
    expect(down.status).toBe(200);
    expect(down.json).toMatchObject({ ok: false, status: null, error: { code: 'upstream_unreachable' } });
    // The upstream answering an error: its status and message, without the credential it was sent.
    sim.enqueue({ type: 'error', status: 401, body: { error: { message: `Incorrect API key provided: ${UPSTREAM_KEY}`, type: 'invalid_request_error', code: 'invalid_api_key' } } });
    const refused = await call('/admin/upstreams/main/test', { method: 'POST' });
    expect(refused.json).toMatchObject({ ok: false, status: 401, error: { code: 'invalid_api_key' } });
    expect(refused.text).not.toContain(UPSTREAM_KEY);
    // A test changes no health: main is still healthy after that 401.
    expect((await get<Up>('/admin/upstreams/main')).body.state).toBe('healthy');
  });

  it('404 for an unknown upstream, 400 for a bad body, 401 without the admin key', async () => {
    expectError(await call('/admin/upstreams/ghost/test', { method: 'POST' }), 404, 'name');
    expectError(await call('/admin/upstreams/ghost'), 404, 'name');
    expectError(await call('/admin/upstreams/main/test', { method: 'POST', body: { model: 5 } }), 400, 'model');
    expectError(await call('/admin/upstreams/main/test', { method: 'POST', body: { temperature: 1 } }), 400);
    expectError(await call('/admin/upstreams/main/test', { method: 'POST', auth: 'sk-wrong' }), 401);
  });
});

describe('files, conversations, Midjourney tasks and batches across keys', () => {
  type List = { object: string; data: Array<{ id: string; key_id: string; filename?: string }>; has_more: boolean; last_id: string | null };

  it('GET /admin/files lists every key\'s files newest first, in pages', async () => {
    const all = (await get<List>('/admin/files')).body;
    expect(all.data.map((f) => [f.filename, f.key_id])).toEqual([
      ['other.jsonl', bob.id],
      ['data.jsonl', alice.id],
    ]);
    const first = (await get<List>('/admin/files?limit=1')).body;
    expect(first.has_more).toBe(true);
    const second = (await get<List>(`/admin/files?limit=1&after=${first.last_id}`)).body;
    expect(second.data.map((f) => f.key_id)).toEqual([alice.id]);
    expect(second.has_more).toBe(false);
    expect((await get<List>(`/admin/files?key_id=${alice.id}`)).body.data).toHaveLength(1);
    expectError(await call('/admin/files?limit=-1'), 400, 'limit');
    expectError(await call('/admin/files', { auth: 'sk-wrong' }), 401);
  });

  it("GET /admin/files/{id}/content downloads any key's file as an attachment; 404 for an unknown one, 401 without the admin key", async () => {
    const all = (await get<List>('/admin/files')).body;
    const file = all.data.find((f) => f.filename === 'data.jsonl');
    expect(file).toBeDefined();
    const own = await fetch(`${gw.baseURL}/files/${file?.id}/content`, { headers: { authorization: `Bearer ${alice.key}` } });
    const r = await call(`/admin/files/${file?.id}/content`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-disposition')).toBe(`attachment; filename="data.jsonl"; filename*=UTF-8''data.jsonl`);
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    expect(r.text).toBe(await own.text());
    // A name outside ASCII (operators name files in Chinese): the plain filename= is ASCII, filename* the real name.
    const cn = await new OpenAI({ baseURL: gw.baseURL, apiKey: alice.key, maxRetries: 0 }).files.create({ file: await toFile(Buffer.from('{"b":2}\n'), '数据.jsonl'), purpose: 'batch' });
    const got = await call(`/admin/files/${cn.id}/content`);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-disposition')).toBe(`attachment; filename="__.jsonl"; filename*=UTF-8''%E6%95%B0%E6%8D%AE.jsonl`);
    expect(got.text).toBe('{"b":2}\n');
    expectError(await call('/admin/files/file-missing/content'), 404);
    expectError(await call(`/admin/files/${file?.id}/content`, { auth: 'sk-wrong' }), 401);
  });

  it('GET /admin/conversations and /admin/mj/tasks list across keys (empty here), 400 for bad input', async () => {
    expect((await get<List>('/admin/conversations')).body).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
    expect((await get<List>('/admin/mj/tasks')).body.data).toEqual([]);
    expectError(await call('/admin/conversations?limit=x'), 400, 'limit');
    expectError(await call('/admin/mj/tasks?unknown=1'), 400, 'unknown');
    expectError(await call('/admin/mj/tasks', { auth: 'sk-wrong' }), 401);
    expectError(await call('/admin/batches?limit=0'), 400, 'limit');
    expect((await get<List>('/admin/batches')).body.object).toBe('list');
  });
});

describe('secrets', () => {
  it('no answer of this file carried a key hash, a key secret or an upstream credential', async () => {
    const hashes = (await gw.store.db.selectFrom('api_keys').select('key_hash').execute()).map((r) => r.key_hash);
    const all = seen.join('\n');
    for (const secret of [UPSTREAM_KEY, 'sk-down-secret-88888888', alice.key, bob.key, ...hashes]) expect(all).not.toContain(secret);
  });
});
