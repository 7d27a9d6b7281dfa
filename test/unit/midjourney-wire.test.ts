import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { midjourneyRequest, midjourneyRoot } from '../../src/providers/midjourney/midjourney-endpoint.ts';
import { keepSubmitProperties, keepTaskFields, mjTaskSchema, parseCustomId } from '../../src/wire/midjourney.ts';

describe('parseCustomId', () => {
  it('reads the button ids midjourney-proxy-plus documents', () => {
    expect(parseCustomId('MJ::JOB::upsample::2::3dbbd469-36af-4a0f-8f02-df6c579e7011')).toEqual({ action: 'UPSCALE', modal: false });
    expect(parseCustomId('MJ::JOB::variation::1::898416ec-7c18-4762-bf03-8e428fee1860')).toEqual({ action: 'VARIATION', modal: false });
    expect(parseCustomId('MJ::JOB::low_variation::1::7af96d1a-67c7-4d74-b173-8430c98c7631::SOLO')).toEqual({ action: 'VARIATION', modal: false });
    expect(parseCustomId('MJ::JOB::reroll::0::898416ec-7c18-4762-bf03-8e428fee1860::SOLO')).toEqual({ action: 'REROLL', modal: false });
    expect(parseCustomId('MJ::JOB::upsample_v6_2x_subtle::1::7af96d1a-67c7-4d74-b173-8430c98c7631::SOLO')).toEqual({ action: 'UPSCALE_HD', modal: false });
    expect(parseCustomId('MJ::JOB::pan_left::1::7af96d1a-67c7-4d74-b173-8430c98c7631::SOLO')).toEqual({ action: 'PAN', modal: false });
    expect(parseCustomId('MJ::Outpaint::50::1::7af96d1a-67c7-4d74-b173-8430c98c7631::SOLO')).toEqual({ action: 'ZOOM', modal: false });
    expect(parseCustomId('MJ::CustomZoom::439f8670-52e8-4f57-afaa-fa08f6d6c751')).toEqual({ action: 'ZOOM', modal: true });
    expect(parseCustomId('MJ::Inpaint::1::da2b1fda-0455-4952-9f0e-d4cb891f8b1e::SOLO')).toEqual({ action: 'INPAINT', modal: true });
    expect(parseCustomId('MJ::Job::PicReader::1')).toEqual({ action: 'ACTION', modal: false });
  });

  it('refuses anything else', () => {
    for (const bad of ['', 'U1', 'upsample::1', 'MJ::', 'MJ::JOB', 'MJ::JOB::upsample::1::<script>', `MJ::JOB::upsample::1::${'a'.repeat(300)}`, 'mj::job::upsample::1::x']) {
      expect(parseCustomId(bad), bad).toBeUndefined();
    }
  });
});

describe('task and submit shapes', () => {
  it('keeps the documented task fields and drops the upstream internals', () => {
    const t = mjTaskSchema.parse({
      id: 1689231405853400,
      action: 'DESCRIBE',
      status: 'SUCCESS',
      progress: '100%',
      prompt: '',
      submitTime: 1689231405854,
      imageUrl: 'https://cdn.example/x.png',
      buttons: [{ customId: 'MJ::Job::PicReader::1', emoji: '1️⃣', label: '', type: 2, style: 2, extra: true }],
      properties: { finalPrompt: '1️⃣ Cat', discordInstanceId: '111', notifyHook: 'http://x', nonce: '9' },
      somethingNew: 'ignored',
    });
    expect(t.id).toBe('1689231405853400');
    const kept = keepTaskFields(t);
    expect(kept).toMatchObject({ action: 'DESCRIBE', status: 'SUCCESS', imageUrl: 'https://cdn.example/x.png', properties: { finalPrompt: '1️⃣ Cat' }, startTime: null, failReason: null });
    expect(kept.buttons).toEqual([{ customId: 'MJ::Job::PicReader::1', emoji: '1️⃣', label: '', type: 2, style: 2 }]);
    expect(JSON.stringify(kept)).not.toMatch(/discordInstanceId|notifyHook|nonce|somethingNew/);
    expect(keepSubmitProperties({ discordInstanceId: '1', numberOfQueues: 2, bannedWord: 'x' })).toEqual({ numberOfQueues: 2, bannedWord: 'x' });
  });

  it('calls the upstream under /mj with its secret in mj-api-secret, whether base_url names the root or /mj', () => {
    expect(midjourneyRoot('http://h:8080/')).toBe('http://h:8080');
    expect(midjourneyRoot('http://h:8080/mj')).toBe('http://h:8080');
    const req = midjourneyRequest({ baseUrl: 'http://h:8080/mj', apiKey: 's3cret', upstreamModel: '', headers: { 'x-extra': '1' } }, '/submit/imagine', { prompt: 'cat' });
    expect(req).toEqual({
      url: 'http://h:8080/mj/submit/imagine',
      method: 'POST',
      headers: { 'x-extra': '1', accept: 'application/json', 'mj-api-secret': 's3cret', 'content-type': 'application/json' },
      body: '{"prompt":"cat"}',
    });
    expect(midjourneyRequest({ baseUrl: 'http://h', upstreamModel: '', headers: {} }, '/task/1/fetch').headers).toEqual({ accept: 'application/json' });
  });
});

describe('config', () => {
  it('takes midjourney upstreams, mj_* prices and the midjourney block with its defaults', () => {
    const cfg = parseConfig({ upstreams: [{ name: 'mj', type: 'midjourney', base_url: 'http://127.0.0.1:8080', api_key: 'x' }], models: { mj_imagine: { price: 0.05 } } }, 'test');
    expect(cfg.upstreams[0].type).toBe('midjourney');
    expect(cfg.models.mj_imagine.price).toBe(0.05);
    expect(cfg.midjourney).toEqual({ poll_interval_ms: 3000, poll_batch: 20, task_timeout_minutes: 60 });
    expect(parseConfig({ midjourney: { poll_interval_ms: 500, task_timeout_minutes: 5 } }, 'test').midjourney).toEqual({ poll_interval_ms: 500, poll_batch: 20, task_timeout_minutes: 5 });
  });

  it('names the bad field', () => {
    expect(() => parseConfig({ upstreams: [{ name: 'mj', type: 'midjourney', base_url: 'http://x', models: ['mj_imagine'] }] }, 'test')).toThrow(/upstreams\[0\]\.models/);
    expect(() => parseConfig({ midjourney: { poll_batch: 0 } }, 'test')).toThrow(ConfigError);
    expect(() => parseConfig({ models: { mj_imagine: { price: -1 } } }, 'test')).toThrow(/models\.mj_imagine\.price/);
  });
});
