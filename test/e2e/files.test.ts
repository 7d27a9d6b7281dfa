/**
 * The Files API through the gateway, driven by the official `openai` client: upload,
 * list with cursor pagination, retrieve, content byte for byte, delete, expiry (on
 * read at once, on disk by the sweep), every object scoped to the key that made it,
 * and errors in OpenAI's shape.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGeneratedFile } from '../../src/store/stored-files.ts';
import { apiError } from '../helpers/api-error.ts';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.ts';

let gw: TestGateway;
let client: OpenAI;
let other: OpenAI;
let keyId: string;

const LINES = '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[]}}\n';

function filesDir(g: TestGateway): string {
  const { config } = g.services;
  return resolve(config.files.dir ?? join(config.data_dir, 'files'));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw multipart POST /v1/files, for what the typed client would not send. */
async function rawUpload(key: string, fields: Record<string, string>, file?: { bytes: Buffer; name: string }): Promise<{ status: number; body: any }> {
  const form = new FormData();
  if (file) form.append('file', new Blob([new Uint8Array(file.bytes)]), file.name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const res = await fetch(`${gw.baseURL}/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  return { status: res.status, body: await res.json() };
}

let key: string;

beforeAll(async () => {
  gw = await startTestGateway({ files: { max_upload_mb: 0.05 } });
  const created = await gw.createKey({ name: 'files' });
  key = created.key;
  keyId = created.id;
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: key, maxRetries: 0 });
  other = new OpenAI({ baseURL: gw.baseURL, apiKey: (await gw.createKey({ name: 'other' })).key, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.close();
});

describe('upload, retrieve, content, delete', () => {
  it('answers the File object, stores the exact bytes and removes them on delete', async () => {
    const before = Math.floor(Date.now() / 1000);
    const file = await client.files.create({ file: await toFile(Buffer.from(LINES), 'input.jsonl'), purpose: 'batch' });
    expect(file).toEqual({
      id: expect.stringMatching(/^file-[A-Za-z0-9]{24}$/),
      object: 'file',
      bytes: Buffer.byteLength(LINES),
      created_at: expect.any(Number),
      expires_at: file.created_at + 3600,
      filename: 'input.jsonl',
      purpose: 'batch',
      status: 'processed',
      status_details: null,
    });
    expect(file.created_at).toBeGreaterThanOrEqual(before);
    expect(file.created_at).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(existsSync(join(filesDir(gw), file.id))).toBe(true);

    expect(await client.files.retrieve(file.id)).toEqual(file);

    const content = await client.files.content(file.id);
    expect(content.status).toBe(200);
    expect(content.headers.get('content-type')).toBe('application/octet-stream');
    expect(content.headers.get('content-length')).toBe(String(Buffer.byteLength(LINES)));
    expect(Buffer.from(await content.arrayBuffer()).toString()).toBe(LINES);

    expect(await client.files.delete(file.id)).toEqual({ id: file.id, object: 'file', deleted: true });
    expect(existsSync(join(filesDir(gw), file.id))).toBe(false);
    const gone = await apiError(client.files.retrieve(file.id));
    expect(gone.status).toBe(404);
    expect(gone.error).toEqual({ message: `No such File object: ${file.id}`, type: 'invalid_request_error', param: 'id', code: null });
    expect((await apiError(client.files.content(file.id))).status).toBe(404);
    expect((await apiError(client.files.delete(file.id))).status).toBe(404);
  });

  it('keeps binary bytes exactly (every byte value)', async () => {
    const bytes = Buffer.alloc(40_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) % 256;
    const file = await client.files.create({ file: await toFile(bytes, 'blob.bin'), purpose: 'user_data' });
    expect(file.bytes).toBe(bytes.length);
    const content = await client.files.content(file.id);
    expect(Buffer.from(await content.arrayBuffer()).equals(bytes)).toBe(true);
    await client.files.delete(file.id);
  });

  it('keeps a UTF-8 file name', async () => {
    const file = await client.files.create({ file: await toFile(Buffer.from(LINES), 'données-été.jsonl'), purpose: 'batch' });
    expect(file.filename).toBe('données-été.jsonl');
    expect((await client.files.list()).data.find((f) => f.id === file.id)?.filename).toBe('données-été.jsonl');
    await client.files.delete(file.id);
  });

  it('serves files the gateway generated (batch output), large or empty', async () => {
    const big = Buffer.alloc(1_500_000);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const out = await createGeneratedFile(gw.services, {
      keyId,
      filename: 'batch_abc_output.jsonl',
      purpose: 'batch_output',
      data: Readable.from([big.subarray(0, 700_000), big.subarray(700_000)]),
      expiresAt: Date.now() + 60_000,
    });
    const listed = await client.files.retrieve(out.id);
    expect(listed).toMatchObject({ id: out.id, purpose: 'batch_output', bytes: big.length, filename: 'batch_abc_output.jsonl', status: 'processed' });
    expect(Buffer.from(await (await client.files.content(out.id)).arrayBuffer()).equals(big)).toBe(true);
    expect((await apiError(other.files.content(out.id))).status).toBe(404);

    const empty = await createGeneratedFile(gw.services, { keyId, filename: 'batch_abc_error.jsonl', purpose: 'batch_output', data: Readable.from([]), expiresAt: null });
    expect((await client.files.retrieve(empty.id)).expires_at).toBeNull();
    const res = await client.files.content(empty.id);
    expect(res.headers.get('content-length')).toBe('0');
    expect(await res.text()).toBe('');
    await client.files.delete(out.id);
    await client.files.delete(empty.id);
  });

  it('500 in OpenAI shape, not a cut-off download, when the bytes are missing', async () => {
    const file = await client.files.create({ file: await toFile(Buffer.from(LINES), 'lost.jsonl'), purpose: 'batch' });
    await gw.services.fileStorage.remove(file.id);
    const err = await apiError(client.files.content(file.id));
    expect(err.status).toBe(500);
    expect(err.error).toMatchObject({ type: 'server_error' });
    await client.files.delete(file.id);
  });

  it('honours expires_after and checks its bounds', async () => {
    const file = await client.files.create({
      file: await toFile(Buffer.from(LINES), 'week.jsonl'),
      purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 604_800 },
    });
    expect(file.expires_at).toBe(file.created_at + 604_800);
    await client.files.delete(file.id);

    for (const [fields, param] of [
      [{ 'expires_after[anchor]': 'created_at', 'expires_after[seconds]': '3599' }, 'expires_after[seconds]'],
      [{ 'expires_after[anchor]': 'created_at', 'expires_after[seconds]': '2592001' }, 'expires_after[seconds]'],
      [{ 'expires_after[anchor]': 'created_at', 'expires_after[seconds]': '1.5' }, 'expires_after[seconds]'],
      [{ 'expires_after[anchor]': 'created_at' }, 'expires_after[seconds]'],
      [{ 'expires_after[anchor]': 'last_active_at', 'expires_after[seconds]': '3600' }, 'expires_after[anchor]'],
      [{ 'expires_after[seconds]': '3600' }, 'expires_after[anchor]'],
    ] as const) {
      const res = await rawUpload(key, { purpose: 'batch', ...fields }, { bytes: Buffer.from(LINES), name: 'x.jsonl' });
      expect(res.status, JSON.stringify(fields)).toBe(400);
      expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
    }
    // The bounds themselves are accepted.
    for (const seconds of [3600, 2_592_000]) {
      const ok = await client.files.create({ file: await toFile(Buffer.from(LINES), 'b.jsonl'), purpose: 'batch', expires_after: { anchor: 'created_at', seconds } });
      expect(ok.expires_at).toBe(ok.created_at + seconds);
      await client.files.delete(ok.id);
    }
  });

  it('accepts every upload purpose OpenAI does', async () => {
    for (const purpose of ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'] as const) {
      const file = await client.files.create({ file: await toFile(Buffer.from('x'), 'p.txt'), purpose });
      expect(file.purpose).toBe(purpose);
      await client.files.delete(file.id);
    }
  });
});

describe('upload errors', () => {
  it('400 naming purpose for an unknown or generated purpose, in OpenAI words', async () => {
    for (const purpose of ['vector_store', 'batch_output']) {
      const err = await apiError(client.files.create({ file: await toFile(Buffer.from(LINES), 'input.jsonl'), purpose: purpose as 'batch' }));
      expect(err.status).toBe(400);
      expect(err.error).toEqual({
        message: `'${purpose}' is not one of ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'] - 'purpose'`,
        type: 'invalid_request_error',
        param: 'purpose',
        code: null,
      });
    }
  });

  it('400 for a missing purpose, a missing file and an empty file', async () => {
    const noPurpose = await rawUpload(key, {}, { bytes: Buffer.from(LINES), name: 'input.jsonl' });
    expect(noPurpose.status).toBe(400);
    expect(noPurpose.body.error).toMatchObject({ param: 'purpose', code: 'missing_required_parameter' });

    const noFile = await rawUpload(key, { purpose: 'batch' });
    expect(noFile.status).toBe(400);
    expect(noFile.body.error).toMatchObject({ param: 'file', code: 'missing_required_parameter', type: 'invalid_request_error' });

    const empty = await apiError(client.files.create({ file: await toFile(Buffer.alloc(0), 'empty.jsonl'), purpose: 'batch' }));
    expect(empty.status).toBe(400);
    expect(empty.error).toMatchObject({ param: 'file', type: 'invalid_request_error' });
  });

  it('415 for a body that is not multipart', async () => {
    const res = await fetch(`${gw.baseURL}/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ purpose: 'batch' }),
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as any).error.type).toBe('invalid_request_error');
  });

  it('413 above files.max_upload_mb, before anything is stored', async () => {
    const stored = () => (existsSync(filesDir(gw)) ? readdirSync(filesDir(gw)).length : 0);
    const before = stored();
    const err = await apiError(client.files.create({ file: await toFile(Buffer.alloc(200_000, 'a'), 'big.jsonl'), purpose: 'batch' }));
    expect(err.status).toBe(413);
    expect(err.error).toMatchObject({ type: 'invalid_request_error', code: 'file_too_large' });
    expect(stored()).toBe(before);
    expect((await client.files.list()).data.map((f) => f.filename)).not.toContain('big.jsonl');
  });

  it('401 without a key', async () => {
    const anon = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-not-a-key', maxRetries: 0 });
    expect((await apiError(anon.files.list())).status).toBe(401);
    expect((await apiError(anon.files.create({ file: await toFile(Buffer.from(LINES), 'input.jsonl'), purpose: 'batch' }))).status).toBe(401);
  });
});

describe('list', () => {
  it('pages with after, limit and order, newest first by default', async () => {
    const key3 = await gw.createKey({ name: 'pager' });
    const pager = new OpenAI({ baseURL: gw.baseURL, apiKey: key3.key, maxRetries: 0 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const purpose = i % 2 === 0 ? 'batch' : 'user_data';
      ids.push((await pager.files.create({ file: await toFile(Buffer.from(`${i}\n`), `f${i}.jsonl`), purpose })).id);
      await sleep(3); // distinct creation times, so the expected order is the upload order
    }
    const newest = [...ids].reverse();

    const all = await pager.files.list();
    expect(all.data.map((f) => f.id)).toEqual(newest);
    expect(all.has_more).toBe(false);

    const page1 = await pager.files.list({ limit: 2 });
    expect(page1.data.map((f) => f.id)).toEqual(newest.slice(0, 2));
    expect(page1.has_more).toBe(true);
    const raw = (await (await fetch(`${gw.baseURL}/files?limit=2`, { headers: { authorization: `Bearer ${key3.key}` } })).json()) as any;
    expect(raw).toMatchObject({ object: 'list', first_id: newest[0], last_id: newest[1], has_more: true });

    const page2 = await pager.files.list({ limit: 2, after: newest[1] });
    expect(page2.data.map((f) => f.id)).toEqual(newest.slice(2, 4));
    const page3 = await pager.files.list({ limit: 2, after: newest[3] });
    expect(page3.data.map((f) => f.id)).toEqual(newest.slice(4));
    expect(page3.has_more).toBe(false);

    // The client's own auto-pagination walks the cursor to the end.
    const walked: string[] = [];
    for await (const f of pager.files.list({ limit: 2 })) walked.push(f.id);
    expect(walked).toEqual(newest);

    const asc = await pager.files.list({ order: 'asc', limit: 3 });
    expect(asc.data.map((f) => f.id)).toEqual(ids.slice(0, 3));
    expect((await pager.files.list({ order: 'asc', after: ids[2] })).data.map((f) => f.id)).toEqual(ids.slice(3));

    const batchOnly = await pager.files.list({ purpose: 'batch' });
    expect(batchOnly.data.map((f) => f.id)).toEqual(newest.filter((id) => [0, 2, 4].includes(ids.indexOf(id))));

    const empty = (await (await fetch(`${gw.baseURL}/files?purpose=evals`, { headers: { authorization: `Bearer ${key3.key}` } })).json()) as any;
    expect(empty).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
  });

  it('400 for a limit outside 1..10000 or an unknown order', async () => {
    for (const [query, param] of [
      ['limit=0', 'limit'],
      ['limit=10001', 'limit'],
      ['limit=abc', 'limit'],
      ['order=newest', 'order'],
    ]) {
      const res = await fetch(`${gw.baseURL}/files?${query}`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as any).error).toMatchObject({ type: 'invalid_request_error', param });
    }
    const max = await fetch(`${gw.baseURL}/files?limit=10000`, { headers: { authorization: `Bearer ${key}` } });
    expect(max.status).toBe(200);
  });
});

describe('scoping and expiry', () => {
  it("another key's file is not found anywhere, and is left alone", async () => {
    const file = await client.files.create({ file: await toFile(Buffer.from(LINES), 'mine.jsonl'), purpose: 'batch' });
    for (const call of [other.files.retrieve(file.id), other.files.content(file.id), other.files.delete(file.id)]) {
      const err = await apiError(call);
      expect(err.status).toBe(404);
      expect(err.error).toEqual({ message: `No such File object: ${file.id}`, type: 'invalid_request_error', param: 'id', code: null });
    }
    expect((await other.files.list()).data).toEqual([]);
    expect((await other.files.list({ after: file.id })).data).toEqual([]);
    // Still there for its owner.
    expect((await client.files.retrieve(file.id)).id).toBe(file.id);
    expect(existsSync(join(filesDir(gw), file.id))).toBe(true);
    await client.files.delete(file.id);
  });

  it('an expired file is not found even before the sweep removes it', async () => {
    const file = await client.files.create({ file: await toFile(Buffer.from(LINES), 'old.jsonl'), purpose: 'batch' });
    await gw.services.files.setExpiry(file.id, Date.now() - 1);
    expect((await apiError(client.files.retrieve(file.id))).status).toBe(404);
    expect((await apiError(client.files.content(file.id))).status).toBe(404);
    expect((await apiError(client.files.delete(file.id))).status).toBe(404);
    expect((await client.files.list()).data.map((f) => f.id)).not.toContain(file.id);
  });

  it('unknown ids are 404, the id never reaching the storage as a path', async () => {
    for (const id of ['file-doesnotexist', '..%2F..%2Fetc%2Fpasswd', 'file-..']) {
      const err = await apiError(client.files.content(id));
      expect(err.status, id).toBe(404);
    }
  });
});

describe('the sweep', () => {
  let sgw: TestGateway;
  let sclient: OpenAI;

  beforeAll(async () => {
    sgw = await startTestGateway({ files: { default_ttl_seconds: 1, sweep_interval_seconds: 0.2 } });
    const k = await sgw.createKey({ name: 'sweep' });
    sclient = new OpenAI({ baseURL: sgw.baseURL, apiKey: k.key, maxRetries: 0 });
  });

  afterAll(async () => {
    await sgw?.close();
  });

  async function until(check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) throw new Error('timed out');
      await sleep(50);
    }
  }

  it('removes the row and the bytes once the default TTL has passed', async () => {
    const file = await sclient.files.create({ file: await toFile(Buffer.from(LINES), 'short.jsonl'), purpose: 'batch' });
    expect(file.expires_at).toBe(file.created_at + 1);
    const path = join(filesDir(sgw), file.id);
    expect(existsSync(path)).toBe(true);
    expect((await sclient.files.retrieve(file.id)).id).toBe(file.id);
    await sleep(1500);
    expect((await apiError(sclient.files.retrieve(file.id))).status).toBe(404);
    await until(() => !existsSync(path));
    expect(await sgw.services.files.findAny(file.id)).toBeUndefined();
  });
});
